import ArgumentParser
import DeliveryCore
import Foundation
import HooktopLab
import Hummingbird
import Logging

struct Receive: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A local endpoint that verifies Standard Webhooks signatures and prints what arrives.")
    @Option(help: "Address to listen on, HOST:PORT.") var listen = "127.0.0.1:9000"
    @Option(help: "The endpoint's signing secret, whsec_<base64> (default: $HOOKTOP_SECRET).") var secret: String?
    @Flag(help: "Print one JSON object per line.") var json = false
    @Option(help: "Answer this fraction of valid webhooks with 500, to exercise retries (0 to 1).") var failRate = 0.0
    @Option(help: "Wait this long before answering, like 500ms or 2s.") var delay: String?
    @Option(help: "Accepted clock skew of webhook-timestamp, like 5m.") var tolerance = "5m"

    func run() async throws {
        try await reportingErrors {
            let (host, port) = try parseListenAddress(listen)
            guard let secret = secret ?? ProcessInfo.processInfo.environment["HOOKTOP_SECRET"] else {
                throw HooktopError.invalid("give the endpoint's secret with --secret whsec_... (see `hooktop endpoint show ID`)")
            }
            guard (0...1).contains(failRate) else { throw HooktopError.invalid("--fail-rate must be between 0 and 1") }
            var configuration = WebhookReceiver.Configuration()
            configuration.failRate = failRate
            configuration.json = json
            if let delay {
                guard let seconds = DurationText.seconds(delay), seconds <= 300 else {
                    throw HooktopError.invalid("--delay must be a duration up to 5m, like 500ms")
                }
                configuration.delayMilliseconds = Int(seconds * 1000)
            }
            guard let skew = DurationText.seconds(tolerance), skew >= 1 else {
                throw HooktopError.invalid("--tolerance must be a duration, like 5m")
            }
            configuration.tolerance = skew
            let receiver = try WebhookReceiver(secret: secret, configuration: configuration, output: { line in
                FileHandle.standardOutput.write(Data((line + "\n").utf8))
            })
            var logger = Logger(label: "hooktop.receive")
            logger.logLevel = .warning
            let app = Application(
                router: receiver.router(), configuration: .init(address: .hostname(host, port: port)),
                onServerRunning: { channel in
                    let bound = channel.localAddress?.port ?? port
                    FileHandle.standardError.write(Data("hooktop receive: listening on http://\(host):\(bound)/ (Ctrl-C stops)\n".utf8))
                }, logger: logger)
            do {
                try await app.runService()
            } catch {
                let text = "\(error)"
                if isAddressInUse(error) {
                    throw HooktopError.invalid("cannot listen on \(listen): address already in use")
                }
                throw HooktopError.invalid("receive stopped: \(text)")
            }
        }
    }
}
