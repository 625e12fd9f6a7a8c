import ArgumentParser
import DeliveryCore
import Foundation

/// The options of `endpoint add` and `endpoint update` that say how requests reach the receiver.
struct ConnectionOptions: ParsableArguments {
    @Option(name: .customLong("header"), help: "A header sent on every request, 'Name: value' (repeatable).")
    var headers: [String] = []
    @Option(help: "Send 'Authorization: Bearer TOKEN' (stored like the signing secret, shown masked).")
    var bearerToken: String?
    @Option(help: "Send HTTP basic authorization, USER:PASSWORD (stored like the signing secret, shown masked).")
    var basicAuth: String?
    @Option(help: "A PEM file of CA certificates trusted for this endpoint, on top of the system's.")
    var caFile: String?
    @Option(help: "A PEM client certificate (chain) to present to the receiver (mTLS), with --client-key.")
    var clientCert: String?
    @Option(help: "The PEM private key of --client-cert.")
    var clientKey: String?
    @Option(help: "Delays between attempts for this endpoint, like 10s,1m,10m (default: the dispatcher's).")
    var retrySchedule: String?

    /// Adds these options to `changes`; files are read and validated here.
    func apply(to changes: inout EndpointChanges) throws {
        changes.setHeaders = try headers.map(ConnectionRules.header)
        if bearerToken != nil && basicAuth != nil {
            throw HooktopError.invalid("give --bearer-token or --basic-auth, not both")
        }
        if let bearerToken { changes.credential = .set(.bearer(token: bearerToken)) }
        if let basicAuth { changes.credential = .set(try OutboundCredential.basic(basicAuth)) }
        if let caFile { changes.caPEM = .set(try Self.readPEM(caFile, option: "--ca-file")) }
        switch (clientCert, clientKey) {
        case let (certificate?, key?):
            changes.clientIdentity = .set(
                ClientIdentity(
                    certificatePEM: try Self.readPEM(certificate, option: "--client-cert"),
                    keyPEM: try Self.readPEM(key, option: "--client-key")))
        case (nil, nil): break
        default: throw HooktopError.invalid("--client-cert and --client-key are given together")
        }
        if let retrySchedule { changes.retrySchedule = .set(try RetryPolicy.parse(retrySchedule)) }
    }

    /// A PEM file's text, at most 512 KiB.
    static func readPEM(_ path: String, option: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw HooktopError.invalid("\(option) \(path): cannot read the file")
        }
        guard data.count <= 512 * 1024 else { throw HooktopError.invalid("\(option) \(path): over 512 KiB") }
        guard let text = String(data: data, encoding: .utf8) else {
            throw HooktopError.invalid("\(option) \(path): not a PEM text file")
        }
        return text
    }
}

/// How the CLI reaches receivers by itself (`endpoint test`, `endpoint add --ping`) and how `serve` does.
struct SenderOptions: ParsableArguments {
    @Option(help: "Send through this HTTP proxy, http://[user:password@]host:port (default: HTTPS_PROXY/HTTP_PROXY).")
    var proxy: String?
    @Option(help: "A PEM file of CA certificates trusted for every endpoint, on top of the system's.")
    var caFile: String?

    /// The sender's configuration: the proxy from `--proxy` or the environment, the extra CA bundle.
    func configure(_ configuration: inout WebhookSender.Configuration) throws {
        if let proxy {
            configuration.proxy = try ProxySettings.parse(proxy, noProxy: ProxySettings.environmentValue("NO_PROXY"))
        } else {
            configuration.proxy = try ProxySettings.fromEnvironment()
        }
        if let caFile {
            let pem = try ConnectionOptions.readPEM(caFile, option: "--ca-file")
            try ConnectionRules.validateCA(pem, source: "--ca-file \(caFile)")
            configuration.caPEM = pem
        }
    }
}

/// The lines `endpoint show` prints about an endpoint's connection settings (credentials masked).
enum ConnectionLines {
    static func lines(_ settings: ConnectionSettings) -> [String] {
        var lines: [String] = []
        for header in settings.headers.map(ConnectionRules.displayed) {
            lines.append("header:      \(header.name): \(header.value)")
        }
        if let credential = settings.credential { lines.append("auth:        \(credential.masked)") }
        if settings.caPEM != nil {
            let count = settings.caCertificateCount
            lines.append("tls ca:      \(count) certificate\(count == 1 ? "" : "s") trusted besides the system's")
        }
        if settings.clientCertificatePEM != nil { lines.append("tls client:  certificate presented (mTLS)") }
        if let schedule = settings.retrySchedule {
            lines.append("retries:     \(RetryPolicy.describe(schedule.delays)) (this endpoint's own)")
        }
        return lines
    }

    /// `HTTP 204 in 12 ms`, or the error, and the start of the answer.
    static func ping(_ outcome: AttemptOutcome) -> String {
        var text = outcome.responseStatus.map { "HTTP \($0)" }
            ?? outcome.errorClass.map { "\($0.rawValue): \(outcome.errorMessage.map { $0.hasPrefix("tls: ") ? String($0.dropFirst(5)) : $0 } ?? "")" }
            ?? "no answer"
        text += " in \(outcome.durationMilliseconds) ms"
        if outcome.responseStatus != nil, !outcome.succeeded, let summary = outcome.summary { text += " (\(summary))" }
        if let excerpt = outcome.responseBodyExcerpt, !excerpt.isEmpty {
            text += "\n" + String(excerpt.prefix(300))
        }
        return text
    }
}

/// Test pings from the command line, with a sender of their own (no `serve` needed).
enum EndpointTester {
    /// - Parameter options: `--proxy` and `--ca-file`, when the command has them; else the proxy of the environment.
    static func ping(_ id: String, engine: any DeliveryEngine, options: SenderOptions?) async throws -> AttemptOutcome {
        var configuration = WebhookSender.Configuration()
        if let options {
            try options.configure(&configuration)
        } else {
            configuration.proxy = try ProxySettings.fromEnvironment()
        }
        let sender = WebhookSender(configuration: configuration)
        do {
            let outcome = try await Operations(engine: engine, sender: sender).testEndpoint(id: id, by: .current(via: "cli"))
            await sender.shutdown()
            return outcome
        } catch {
            await sender.shutdown()
            throw error
        }
    }
}

/// Writes `hooktop: message` to stderr without exiting.
func warn(_ message: String) {
    FileHandle.standardError.write(Data("hooktop: \(Sanitizer.line(message))\n".utf8))
}
