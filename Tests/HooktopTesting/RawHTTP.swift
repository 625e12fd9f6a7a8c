import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// HTTP/1.1 over a plain TCP socket, bytes exactly as given: paths are not normalised (`//v1`, `/./`, `%2F` reach the
/// server as written), and connections can be held open without sending anything.
public enum RawHTTP {
    /// A connected TCP socket to 127.0.0.1:`port`, or nil when the connection fails within `timeout`.
    public static func connect(port: Int, timeout: Duration = .seconds(5)) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        setTimeout(fd, timeout)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            close(fd)
            return nil
        }
        return fd
    }

    /// Sends `request` on a new connection and reads until the server closes it or `timeout` passes.
    /// - Returns: the status code (nil when no status line arrived) and the whole response text.
    public static func exchange(port: Int, _ request: String, timeout: Duration = .seconds(5)) -> (status: Int?, text: String) {
        guard let fd = connect(port: port, timeout: timeout) else { return (nil, "") }
        defer { close(fd) }
        let bytes = Array(request.utf8)
        guard send(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count else { return (nil, "") }
        let text = readAll(fd, until: .now + timeout)
        return (status(of: text), text)
    }

    /// A request with `Connection: close`, an optional body and extra header lines.
    public static func request(
        _ method: String, _ path: String, headers: [String] = [], body: String? = nil
    ) -> String {
        var lines = ["\(method) \(path) HTTP/1.1", "Host: 127.0.0.1", "Connection: close"] + headers
        if let body {
            lines.append("Content-Type: application/json")
            lines.append("Content-Length: \(body.utf8.count)")
        }
        return lines.joined(separator: "\r\n") + "\r\n\r\n" + (body ?? "")
    }

    /// Reads what arrives on `fd` until end of stream or `deadline`.
    public static func readAll(_ fd: Int32, until deadline: ContinuousClock.Instant) -> String {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while ContinuousClock.now < deadline {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n > 0 {
                received += buffer[0..<n]
            } else if n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                break
            }
        }
        return String(decoding: received, as: UTF8.self)
    }

    /// Whether the server closed `fd` (end of stream or reset) within `timeout`, having sent nothing or anything.
    public static func waitForClose(_ fd: Int32, timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 4096)
        setTimeout(fd, .milliseconds(200))
        while ContinuousClock.now < deadline {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n == 0 { return true }
            if n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR { return true }
        }
        return false
    }

    /// The status code of a response's status line.
    public static func status(of text: String) -> Int? {
        guard text.hasPrefix("HTTP/1.") else { return nil }
        let parts = text.prefix(while: { $0 != "\r" && $0 != "\n" }).split(separator: " ")
        return parts.count >= 2 ? Int(parts[1]) : nil
    }

    private static func setTimeout(_ fd: Int32, _ timeout: Duration) {
        let (seconds, attoseconds) = timeout.components
        var value = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
    }
}
