import ArgumentParser
import DeliveryCore
import Foundation
import HookServer
import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the HTTP API and the dispatcher (SIGTERM or SIGINT stops them gracefully).")
    @OptionGroup var database: DatabaseOptions
    @Option(help: "Address to listen on, HOST:PORT (port 0 picks a free one).") var listen = "127.0.0.1:8088"
    @Option(help: "Delays between attempts, like 5s,5m,30m,2h,5h,10h,10h (the default).") var retrySchedule: String?
    @Option(help: "Deliveries in flight at once.") var maxInFlight = 512
    @Option(help: "Disable an endpoint after failing this long without a success.") var autoDisableAfter = "5d"
    @Option(help: "Largest accepted request body, in bytes.") var maxBodyBytes = PublishLimits.defaultMaxPayloadBytes
    @Option(help: "API connections open at once; past it the longest-idle one is closed.") var maxConnections = 256
    @Option(help: "Time a client has to send a request's headers, after connecting or after a response.")
    var headerTimeout = "10s"
    @Option(help: "Time a client has to send a request's body, after its headers.") var bodyTimeout = "30s"
    @Flag(help: "Allow endpoints on loopback and private addresses.") var allowPrivateDestinations = false
    @Flag(
        help: "PostgreSQL: no LISTEN/NOTIFY wake-ups, polling only (behind PgBouncer or Supavisor in transaction pooling).")
    var pollOnly = false
    @Option(help: "trace, debug, info, notice, warning, error or critical.") var logLevel = "info"
    @OptionGroup var sender: SenderOptions
    @OptionGroup(title: "Alerts") var alerts: AlertOptions

    func run() async throws {
        try await reportingErrors {
            let (host, port) = try parseListenAddress(listen)
            guard let level = Logger.Level(rawValue: logLevel) else { throw HooktopError.invalid("unknown --log-level \(logLevel)") }
            guard let autoDisable = DurationText.seconds(autoDisableAfter), autoDisable >= 60 else {
                throw HooktopError.invalid("--auto-disable-after must be a duration of at least 1m, like 5d")
            }
            guard (1...10_000).contains(maxInFlight) else { throw HooktopError.invalid("--max-in-flight must be from 1 to 10000") }
            guard (1...100_000).contains(maxConnections) else {
                throw HooktopError.invalid("--max-connections must be from 1 to 100000")
            }
            var connections = ConnectionLimits()
            connections.maxConnections = maxConnections
            connections.headerTimeout = try timeout(headerTimeout, "--header-timeout")
            connections.bodyTimeout = try timeout(bodyTimeout, "--body-timeout")
            // A connection for every delivery in flight and every API client, and room for idle pooled connections
            // and the database: clients can never take the dispatcher's descriptors.
            try OpenFileLimit.require(
                maxInFlight + maxConnections + 256,
                for: "--max-in-flight \(maxInFlight) with --max-connections \(maxConnections)")
            guard (1024...(64 << 20)).contains(maxBodyBytes) else {
                throw HooktopError.invalid("--max-body-bytes must be from 1024 to 67108864")
            }
            var logger = Logger(label: "hooktop", factory: DeferredMetadataLogHandler.init(label:))
            logger.logLevel = level
            let alertConfiguration = try alerts.configuration()
            var senderConfiguration = WebhookSender.Configuration()
            try sender.configure(&senderConfiguration)
            let engine = try await database.open(create: true, pollOnly: pollOnly, logger: logger)
            let access = try await APIAccessSource.open(engine)
            var dispatcherConfiguration = Dispatcher.Configuration()
            if let retrySchedule { dispatcherConfiguration.retryPolicy = try RetryPolicy.parse(retrySchedule) }
            dispatcherConfiguration.maxInFlight = maxInFlight
            dispatcherConfiguration.autoDisableAfter = autoDisable
            let runtime = DeliveryRuntime(
                engine: engine, allowPrivateDestinations: allowPrivateDestinations,
                configuration: dispatcherConfiguration, sender: senderConfiguration, maxPayloadBytes: maxBodyBytes,
                logger: logger)
            var serverConfiguration = HookServer.Configuration()
            serverConfiguration.allowPrivateDestinations = allowPrivateDestinations
            serverConfiguration.maxBodyBytes = maxBodyBytes
            serverConfiguration.connections = connections
            let monitor = AlertMonitor(
                engine: engine, sender: runtime.sender, ownWorker: runtime.dispatcher.workerID,
                configuration: alertConfiguration, logger: logger)
            let server = HookServer(
                operations: runtime.operations, access: access.access, configuration: serverConfiguration,
                alerts: alertConfiguration.destinations.isEmpty ? nil : monitor, dispatcher: runtime.dispatcher)
            let path = engine.location
            let app = server.application(
                host: host, port: port, logger: logger,
                onServerRunning: { channel in
                    let port = channel.localAddress?.port ?? port
                    printText("hooktop serve: listening on http://\(host):\(port), database \(path)")
                    if let created = access.created {
                        printText("API token (shown once; stored in \(access.storedIn)): \(created.secret)")
                    }
                    fflush(nil)
                })
            var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
                .init(service: app), .init(service: runtime.dispatcher), .init(service: monitor),
            ]
            // Upkeep that runs once for all the processes on a PostgreSQL log, by the one holding its lease.
            if let postgres = engine as? PostgresEngine {
                services.append(.init(service: PostgresMaintenance(engine: postgres, logger: logger)))
            }
            let group = ServiceGroup(
                configuration: .init(
                    services: services,
                    gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            defer { access.stop() }
            do {
                try await group.run()
            } catch {
                await runtime.shutdown()
                let text = "\(error)"
                if isAddressInUse(error) {
                    throw HooktopError(.invalidInput, "cannot listen on \(listen): address already in use")
                }
                throw HooktopError(.invalidInput, "serve stopped: \(text)")
            }
            await runtime.shutdown()
        }
    }
}

/// A duration option from 100ms to 1h.
private func timeout(_ text: String, _ option: String) throws -> Duration {
    guard let seconds = DurationText.seconds(text), (0.1...3600).contains(seconds) else {
        throw HooktopError.invalid("\(option) must be a duration from 100ms to 1h, like 10s")
    }
    return .milliseconds(Int64((seconds * 1000).rounded()))
}

/// `HOST:PORT` into its parts.
func parseListenAddress(_ text: String) throws -> (String, Int) {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port)
    else { throw HooktopError.invalid("--listen must be HOST:PORT, like 127.0.0.1:8088") }
    let host = String(text[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
    guard !host.isEmpty else { throw HooktopError.invalid("--listen must be HOST:PORT, like 127.0.0.1:8088") }
    return (host, port)
}

/// The API tokens a `serve` accepts: those the log keeps in force, by digest, read again every second so that a token
/// made or revoked by another process counts here within a second. The log's first token is made here when it has
/// none in force.
struct APIAccessSource: Sendable {
    var access: APIAccess
    /// A token made now, shown once.
    var created: IssuedAPIToken?
    private var refresh: Task<Void, Never>

    static func open(_ engine: any DeliveryEngine) async throws -> APIAccessSource {
        let created = try await engine.makeFirstAPIToken(now: Date(), by: .current(via: "serve"))
        let digests = Mutex(try await engine.apiTokenDigests())
        let refresh = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                if let current = try? await engine.apiTokenDigests() { digests.withLock { $0 = current } }
            }
        }
        return APIAccessSource(access: .digests { digests.withLock { $0 } }, created: created, refresh: refresh)
    }

    /// Where a token made now is kept, for the message that shows it.
    var storedIn: String {
        let digest = "the log, as its SHA-256 digest"
        return created?.file.map { "\($0) and \(digest)" } ?? digest
    }

    func stop() { refresh.cancel() }
}
