import ArgumentParser
import DeliveryCore
import Foundation

struct Publish: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish an event to every subscribed endpoint; prints the message id.",
        discussion: """
            With --batch FILE, publishes the events of a JSON lines file (one {"type", "payload", \
            "idempotency_key"?} object per line, `-` for standard input; up to 1000 events) in one transaction, \
            all or none, and prints one message id per event in order.
            """)
    @OptionGroup var database: DatabaseOptions
    @Argument(help: "The event type, like invoice.paid.") var type: String?
    @Option(help: "The payload: a JSON object, or @FILE to read it from a file (default: {}).") var data: String?
    @Option(help: "Publishing the same key again within 24 hours returns the first message.") var idempotencyKey: String?
    @Option(help: "Publish the events of a JSON lines file (- for standard input) in one transaction.") var batch: String?
    @Flag(help: "Print the message as JSON.") var json = false

    func run() async throws {
        try await reportingErrors {
            if let batch {
                guard type == nil, data == nil, idempotencyKey == nil else {
                    throw HooktopError.invalid("--batch takes the events from the file: give no type, --data or --idempotency-key")
                }
                return try await publishBatch(batch)
            }
            guard let type else { throw HooktopError.invalid("give an event type (like invoice.paid) or --batch FILE") }
            var payload = data ?? "{}"
            if payload.hasPrefix("@") {
                let path = String(payload.dropFirst())
                guard let contents = FileManager.default.contents(atPath: path) else {
                    throw HooktopError.invalid("cannot read payload file \(path)")
                }
                payload = String(decoding: contents, as: UTF8.self)
            }
            let request = PublishRequest(eventType: type, payload: payload, idempotencyKey: idempotencyKey)
            let result = try await Operations(engine: await database.open()).publish(request)
            if json {
                try printJSON(Self.object(result))
            } else {
                printText(result.message.id)
            }
        }
    }

    private func publishBatch(_ path: String) async throws {
        let contents: Data?
        if path == "-" {
            contents = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            contents = FileManager.default.contents(atPath: path)
        }
        guard let contents else { throw HooktopError.invalid("cannot read batch file \(path)") }
        var events: [PublishRequest] = []
        for (number, line) in contents.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            let bytes = Array(line.last == UInt8(ascii: "\r") ? line.dropLast() : line)
            guard bytes.contains(where: { $0 != 0x20 && $0 != 0x09 }) else { continue }
            let index = events.count
            guard index < PublishLimits.maxBatchEvents else {
                throw HooktopError.invalid(
                    "a batch holds at most \(PublishLimits.maxBatchEvents) events: split the file")
            }
            do {
                let scanner = JSONScanner(bytes)
                let root: JSONScanner.Value
                do {
                    root = try scanner.document()
                } catch let failure as JSONScanner.Failure {
                    throw HooktopError.invalid("not valid JSON: \(failure)")
                }
                events.append(try PublishRequest.decode(root, in: scanner))
            } catch let error as HooktopError {
                throw HooktopError(error.code, "events[\(index)] (line \(number + 1)): \(error.message)")
            }
        }
        guard !events.isEmpty else { throw HooktopError.invalid("the batch file \(path) holds no events") }
        // Each line was scanned and checked above: recorded without reading the payloads again.
        let results = try await Operations(engine: await database.open()).publish(scanned: events)
        if json {
            try printJSON(results.map(Self.object))
        } else {
            for result in results { printText(result.message.id) }
        }
    }

    /// The message as `--json` shows it, with how many deliveries it made and whether it was a duplicate.
    private static func object(_ result: PublishResult) -> Merged<MessageObject, CLIOutput.Published> {
        Merged(MessageObject(result.message), CLIOutput.Published(deliveries: result.deliveryCount, duplicate: result.duplicate))
    }
}

struct Deliveries: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List deliveries, newest first.")
    @OptionGroup var database: DatabaseOptions
    @Option(help: "pending, inflight, delivered, retrying, dead or cancelled.") var status: String?
    @Option(help: "Only this endpoint's deliveries.") var endpoint: String?
    @Option(help: "Only deliveries older than this delivery id (paging).") var before: String?
    @Option(help: "How many (1-10000).") var limit = 50
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        try await reportingErrors {
            var query = DeliveryQuery(endpointId: endpoint, limit: limit)
            guard (1...10_000).contains(limit) else { throw HooktopError.invalid("--limit must be from 1 to 10000") }
            if let status {
                guard let value = DeliveryStatus(rawValue: status) else {
                    throw HooktopError.invalid(
                        "unknown status '\(status)': use \(DeliveryStatus.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                query.statuses = [value]
            }
            if let before { query.before = parseDeliveryID(before) }
            let page = try await database.open(readOnly: true).deliveries(query)
            if json { try printJSON(page.map { DeliveryObject($0) }); return }
            printText(TextTable.render(
                header: ["ID", "STATUS", "TYPE", "ENDPOINT", "ATTEMPTS", "LAST"],
                rows: page.map {
                    [Identifier.formatDeliveryID($0.id), $0.status.rawValue, $0.eventType, $0.endpointId,
                     "\($0.attemptCount)", $0.lastError ?? ($0.lastStatusCode.map { "\($0)" } ?? "")]
                }))
        }
    }
}

struct Redeliver: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send a delivery again, replay the deliveries a filter matches, or recover an endpoint since a time.",
        discussion: """
            hooktop redeliver dlv_42                                  one delivery
            hooktop redeliver --status dead --endpoint ep_1 --event-type 'invoice.*' --error-class timeout \\
                --since 2h [--until 1h] [--dry-run]                   replay by filter (paced by the dispatcher)
            hooktop redeliver --endpoint ep_1 --since 2h             recover: dead since then, and what it missed
            """)
    @OptionGroup var database: DatabaseOptions
    @Argument(help: "The delivery id (dlv_42).") var deliveryID: String?
    @Option(help: "Replay the deliveries with this status: dead, cancelled or delivered.") var status: String?
    @Option(help: "Only (or, without --status, recover) this endpoint's deliveries.") var endpoint: String?
    @Option(help: "With --status: only event types matching this glob (invoice.*).") var eventType: String?
    @Option(help: "With --status: only this last error class (timeout, http_status, tls_expired, ...).") var errorClass: String?
    @Option(help: "A duration back from now (2h, 7d) or an ISO 8601 time: deliveries that reached their status since.")
    var since: String?
    @Option(help: "With --status: and before this (a duration back from now or an ISO 8601 time).") var until: String?
    @Flag(help: "With --status: count what matches and send nothing.") var dryRun = false
    @Flag(help: "Allow loopback and private addresses when this process sends the redelivery itself.")
    var allowPrivateDestinations = false

    func validate() throws {
        let filtering = status != nil
        if !filtering, eventType != nil || errorClass != nil || until != nil || dryRun {
            throw ValidationError("--event-type, --error-class, --until and --dry-run filter a replay: give --status too")
        }
        if deliveryID == nil && endpoint == nil && !filtering {
            throw ValidationError("give a delivery id, --status dead [filters], or --endpoint ID --since TIME")
        }
        if deliveryID != nil && (endpoint != nil || filtering) {
            throw ValidationError("give a delivery id or a filter, not both")
        }
        if endpoint != nil && since == nil && !filtering {
            throw ValidationError("--endpoint needs --since (like 2h or 2026-11-30T12:00:00Z)")
        }
    }

    func run() async throws {
        try await reportingErrors {
            let engine = try await database.open()
            if let status {
                guard let status = DeliveryStatus(rawValue: status) else {
                    throw HooktopError.invalid("--status must be dead, cancelled or delivered")
                }
                var filter = DeliveryFilter(status: status, endpointId: endpoint, eventType: eventType)
                if let errorClass {
                    guard let parsed = ErrorClass(rawValue: errorClass) else {
                        throw HooktopError.invalid(
                            "unknown --error-class \(errorClass): one of \(ErrorClass.allCases.map(\.rawValue).joined(separator: ", "))")
                    }
                    filter.errorClass = parsed
                }
                filter.since = try since.map { try SinceText.parse($0) }
                filter.until = try until.map { try SinceText.parse($0) }
                let count = try await Operations(engine: engine).replay(filter, dryRun: dryRun, by: .current(via: "cli"))
                let noun = count == 1 ? "delivery" : "deliveries"
                printText(dryRun ? "\(count) \(noun) match (dry run: nothing sent)" : "queued \(count) \(noun) for redelivery")
                return
            }
            if let endpoint, let since {
                let count = try await Operations(engine: engine).recover(
                    endpointId: endpoint, since: try SinceText.parse(since), by: .current(via: "cli"))
                printText("queued \(count) deliveries to \(endpoint)")
                return
            }
            var configuration = WebhookSender.Configuration()
            configuration.allowPrivateDestinations = allowPrivateDestinations
            let sender = WebhookSender(configuration: configuration)
            let id = parseDeliveryID(deliveryID ?? "")
            let outcome: RedeliveryOutcome
            do {
                outcome = try await Operations(engine: engine, sender: sender).redeliver(deliveryId: id, by: .current(via: "cli"))
                await sender.shutdown()
            } catch {
                await sender.shutdown()
                throw error
            }
            switch outcome {
            case .queued: printText("\(Identifier.formatDeliveryID(id)) queued for the running dispatcher")
            case .performed(let attempt):
                let result = attempt.responseStatus.map { "HTTP \($0)" } ?? (attempt.errorClass?.rawValue ?? "error")
                printText("\(Identifier.formatDeliveryID(id)) sent by this process (no dispatcher alive): \(result) in \(attempt.durationMilliseconds) ms")
                if !attempt.succeeded { throw ExitCode(2) }
            }
        }
    }
}

struct Cancel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Cancel a pending or retrying delivery.")
    @OptionGroup var database: DatabaseOptions
    @Argument var deliveryID: String

    func run() async throws {
        try await reportingErrors {
            let id = parseDeliveryID(deliveryID)
            try await Operations(engine: await database.open()).cancel(deliveryId: id, by: .current(via: "cli"))
            printText("\(Identifier.formatDeliveryID(id)) cancelled")
        }
    }
}

struct Prune: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete delivered messages older than a duration, with their attempts; failures are kept.")
    @OptionGroup var database: DatabaseOptions
    @Option(help: "Age, like 30d.") var olderThan = "30d"

    func run() async throws {
        try await reportingErrors {
            guard let seconds = DurationText.seconds(olderThan), seconds >= 3600 else {
                throw HooktopError.invalid("--older-than must be a duration of at least 1h, like 30d")
            }
            let removed = try await Operations(engine: await database.open()).prune(
                before: Date().addingTimeInterval(-seconds), by: .current(via: "cli"))
            printText("removed \(removed) delivered messages older than \(olderThan)")
        }
    }
}
