import Foundation

/// A private certificate authority made with `openssl` in a temporary folder (P-256 keys: quick to make), with
/// server certificates for `localhost` (also `127.0.0.1`), for another name and expired, and a client certificate for
/// mTLS.
public final class TestCertificates: Sendable {
    public let directory: String

    public var caPEM: String { directory + "/ca.pem" }
    public var serverPEM: String { directory + "/server.pem" }
    public var serverKey: String { directory + "/server.key" }
    public var otherPEM: String { directory + "/other.pem" }
    public var otherKey: String { directory + "/other.key" }
    public var expiredPEM: String { directory + "/expired.pem" }
    public var expiredKey: String { directory + "/expired.key" }
    public var clientPEM: String { directory + "/client.pem" }
    public var clientKey: String { directory + "/client.key" }

    public init() async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("hooktop-certs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let script = """
            set -e
            cd "$1"
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem -days 30 -subj "/CN=hooktop test CA"
            printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > localhost.cnf
            printf 'subjectAltName=DNS:other.example\\n' > other.cnf
            for name in server other expired client; do
                openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout $name.key -out $name.csr -subj "/CN=$name"
            done
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 30 -extfile localhost.cnf
            openssl x509 -req -in other.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out other.pem -days 30 -extfile other.cnf
            openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 30
            printf '[ca]\\ndefault_ca=d\\n[d]\\ndatabase=index.txt\\nnew_certs_dir=.\\nserial=serial.txt\\ndefault_md=sha256\\npolicy=p\\nunique_subject=no\\n[p]\\ncommonName=supplied\\n' > ca.cnf
            : > index.txt
            echo 1000 > serial.txt
            openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in expired.csr -out expired.pem -notext \\
                -startdate 20200101000000Z -enddate 20200201000000Z -extfile localhost.cnf
            """
        let result = try await runProcess("/bin/sh", ["-c", script, "sh", directory], timeout: .seconds(60))
        guard result.status == 0 else { throw LocalReceiverError(message: "openssl failed: \(result.output)") }
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }
}

/// `Tests/Fixtures/receivers.py`: an HTTP(S) webhook receiver (optionally requiring a client certificate) or a
/// forward proxy, on a free port of 127.0.0.1, reporting each request it sees as a JSON line.
public final class LocalReceiver: Sendable {
    public let child: ChildProcess
    public let port: Int

    /// `receivers.py mode arguments...`.
    public init(_ mode: String, _ arguments: [String] = []) async throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/receivers.py").path
        child = try ChildProcess("/usr/bin/env", ["python3", script, mode] + arguments)
        guard let output = await child.waitFor("PORT ", timeout: .seconds(20)),
            let line = output.split(separator: "\n").first(where: { $0.hasPrefix("PORT ") }),
            let port = Int(line.dropFirst(5).prefix { $0.isNumber })
        else { throw LocalReceiverError(message: "receivers.py \(mode) did not start: \(child.text)") }
        self.port = port
    }

    /// The requests (or proxy connections) seen so far, as decoded JSON objects.
    public var records: [[String: Any]] {
        child.text.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("{") else { return nil }
            return (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        }
    }

    /// The headers of the `index`-th request, lower-cased names.
    public func headers(of index: Int) -> [String: String] {
        let requests = records.filter { $0["kind"] as? String == "request" }
        guard index < requests.count, let pairs = requests[index]["headers"] as? [[String]] else { return [:] }
        return Dictionary(pairs.compactMap { $0.count == 2 ? ($0[0], $0[1]) : nil }, uniquingKeysWith: { $1 })
    }

    public func stop() async {
        child.signal(SIGTERM)
        _ = await child.waitForExit(timeout: .seconds(5))
    }

}

public struct LocalReceiverError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }

    public init(message: String) { self.message = message }
}
