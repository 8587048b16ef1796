"""Just enough of the Redis protocol (RESP) for the example, on the standard library."""
import socket


def command(*words, port=6379, timeout=2.0):
    """Send one command to 127.0.0.1:port; the reply as str, int or None."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        payload = f"*{len(words)}\r\n" + "".join(f"${len(str(w))}\r\n{w}\r\n" for w in words)
        sock.sendall(payload.encode())
        stream = sock.makefile("rb")
        reply = stream.readline().decode().rstrip("\r\n")
        if reply[:1] == ":":
            return int(reply[1:])
        if reply[:1] == "$":
            return None if reply == "$-1" else stream.readline().decode().strip()
        if reply[:1] == "-":
            raise RuntimeError(reply[1:])
        return reply[1:]
