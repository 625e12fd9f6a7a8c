import ArgumentParser
import DeliveryCore
import Foundation
import HooktopLab
import Logging

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure delivery throughput: N events to M endpoints on a local sink, through the real dispatcher.")
    @Option(help: "Events to publish.") var events = 20_000
    @Option(help: "Endpoints (each event goes to every one).") var endpoints = 5
    @Option(help: "Deliveries in flight at once, and connections to the sink (at most 1000).") var maxInFlight = 512
    @Option(help: "Publish this many events per second (default: as fast as delivery keeps up).") var rate: Double?
    @Option(
        help: "A new database file, or an empty PostgreSQL database's postgres:// URL (default: a new file in a temporary folder, removed afterwards).")
    var db: String?
    @Option(help: "Runs, each on a new database: prints each and the median (this machine's speed drifts).") var runs = 1
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Measure only the HTTP ceiling: signed POSTs to the sink, no database.") var httpOnly = false
    @Flag(help: "Publish through the HTTP API over loopback, as applications do.") var viaAPI = false
    @Option(help: "With --via-api: concurrent keep-alive connections.") var connections = 32
    @Option(help: "With --via-api: events per request (1 posts to /v1/events, more to /v1/events/batch).") var batch = 1
    @Flag(help: "With --via-api: pause the endpoints and measure publishing alone.") var paused = false
    @Option(help: "With a PostgreSQL --db: dispatchers, each with connections, a lease owner and a sender of its own.")
    var dispatchers = 1

    func run() async throws {
        try await reportingErrors {
            guard (1...10_000_000).contains(events) else { throw HooktopError.invalid("--events must be from 1 to 10000000") }
            guard (1...1000).contains(endpoints) else { throw HooktopError.invalid("--endpoints must be from 1 to 1000") }
            guard (1...1000).contains(maxInFlight) else { throw HooktopError.invalid("--max-in-flight must be from 1 to 1000") }
            guard (1...100).contains(runs) else { throw HooktopError.invalid("--runs must be from 1 to 100") }
            guard (1...16).contains(dispatchers) else { throw HooktopError.invalid("--dispatchers must be from 1 to 16") }
            guard dispatchers == 1 || (db.map(PostgresURL.isPostgresURL) == true && !viaAPI && !httpOnly) else {
                throw HooktopError.invalid("--dispatchers applies to a bench on a PostgreSQL --db, without --via-api or --http-only")
            }
            // A connection at each end (sender and sink) for every delivery in flight, and a margin for the rest.
            try OpenFileLimit.require(2 * maxInFlight + 64, for: "--max-in-flight \(maxInFlight)")
            if httpOnly {
                var rates: [Double] = []
                for _ in 1...runs {
                    let rate = try await DeliveryBenchmark.httpOnly(requests: events * endpoints, concurrency: maxInFlight)
                    rates.append(rate)
                    printText(String(format: "http only         %.0f requests/s (%d requests, %d at a time, no database)", rate, events * endpoints, maxInFlight))
                }
                if runs > 1 {
                    let spread = DeliveryBenchmark.Spread(rates)
                    printText(String(
                        format: "median of %d runs  %.0f requests/s (%.0f to %.0f)", runs, spread.median, spread.lowest,
                        spread.highest))
                }
                return
            }
            if viaAPI { return try await measureViaAPI() }
            if let rate, !(rate > 0 && rate <= 1_000_000) { throw HooktopError.invalid("--rate must be between 0 and 1000000") }
            if db != nil, runs > 1 { throw HooktopError.invalid("--db takes one run: every run needs a new database") }
            var results: [DeliveryBenchmark.Result] = []
            for index in 1...runs {
                let result = try await measure()
                results.append(result)
                if runs > 1 && !json {
                    printText(String(
                        format: "run %d/%d           %.0f deliveries/s, p50 %.0f ms, p99 %.0f ms, %.0f µs CPU per delivery",
                        index, runs, result.deliveriesPerSecond, result.p50Milliseconds, result.p99Milliseconds,
                        result.cpuMicrosecondsPerDelivery))
                }
                if result.delivered != result.deliveries || result.attemptsRecorded < result.deliveries {
                    throw HooktopError(.database, "not every delivery was recorded as delivered")
                }
            }
            try report(results)
        }
    }

    /// Publishing through the API, `runs` times, each on a new database.
    private func measureViaAPI() async throws {
        guard (1...4096).contains(connections) else { throw HooktopError.invalid("--connections must be from 1 to 4096") }
        guard (1...PublishLimits.maxBatchEvents).contains(batch) else {
            throw HooktopError.invalid("--batch must be from 1 to \(PublishLimits.maxBatchEvents)")
        }
        guard rate == nil, db == nil else { throw HooktopError.invalid("--via-api takes neither --rate nor --db") }
        try OpenFileLimit.require(2 * maxInFlight + 2 * connections + 64, for: "--connections \(connections)")
        var results: [APIBenchmark.Result] = []
        for _ in 1...runs {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hooktop-bench-\(getpid())")
            try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let store = try Store(path: directory.appendingPathComponent("bench.db").path)
            let benchmark = APIBenchmark(
                events: events, endpoints: endpoints, connections: connections, batch: batch, paused: paused,
                maxInFlight: maxInFlight)
            let result = try await benchmark.run(store: store) { line in
                FileHandle.standardError.write(Data(("… " + line + "\n").utf8))
            }
            guard result.messagesRecorded == result.events else {
                throw HooktopError(.database, "\(result.events) events acknowledged, \(result.messagesRecorded) in the log")
            }
            results.append(result)
            if json {
                let object: [String: JSONValue] = [
                    "events": JSONValue(result.events), "endpoints": JSONValue(result.endpoints),
                    "connections": JSONValue(connections), "batch": JSONValue(batch), "paused": .bool(paused),
                    "events_per_second": .number(result.eventsPerSecond), "publish_seconds": .number(result.publishSeconds),
                    "deliveries": JSONValue(result.deliveries), "deliveries_per_second": .number(result.deliveriesPerSecond),
                    "end_to_end_seconds": .number(result.endToEndSeconds),
                    "latency_p50_ms": .number(result.latencyP50Milliseconds),
                    "latency_p99_ms": .number(result.latencyP99Milliseconds), "refused": JSONValue(result.refused),
                    "peak_memory_mib": .number(result.peakMemoryMiB),
                ]
                try printJSON(object)
                continue
            }
            printText(String(
                format: "via API           %d events, %d connections, %d per request%@", result.events, connections, batch,
                paused ? ", endpoints paused" : ""))
            printText(String(
                format: "publish           %.0f events/s (%.2f s), latency p50 %.1f ms, p99 %.1f ms, %d refused (503)",
                result.eventsPerSecond, result.publishSeconds, result.latencyP50Milliseconds,
                result.latencyP99Milliseconds, result.refused))
            if !paused {
                printText(String(
                    format: "end to end        %.0f deliveries/s (%d deliveries in %.2f s)", result.deliveriesPerSecond,
                    result.deliveries, result.endToEndSeconds))
            }
            printText(String(format: "peak memory       %.1f MiB", result.peakMemoryMiB))
        }
        if runs > 1 && !json {
            let spread = DeliveryBenchmark.Spread(results.map(\.eventsPerSecond))
            printText(String(
                format: "median of %d runs  %.0f events/s (%.0f to %.0f)", runs, spread.median, spread.lowest, spread.highest))
            if !paused {
                let deliveries = DeliveryBenchmark.Spread(results.map(\.deliveriesPerSecond))
                printText(String(
                    format: "median of %d runs  %.0f deliveries/s end to end (%.0f to %.0f)", runs, deliveries.median,
                    deliveries.lowest, deliveries.highest))
            }
        }
    }

    /// One run on a new database.
    private func measure() async throws -> DeliveryBenchmark.Result {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hooktop-bench-\(getpid())")
        if let db, PostgresURL.isPostgresURL(db) {
            let engine = try await PostgresEngine.open(
                try PostgresURL(db), logger: Logger(label: "hooktop", factory: { _ in SwiftLogNoOpLogHandler() }))
            guard try await engine.endpoints().isEmpty else {
                await engine.close()
                throw HooktopError.invalid("\(engine.location) has endpoints: bench needs an empty database")
            }
            var others: [PostgresEngine] = []
            for _ in 1..<dispatchers {
                others.append(
                    try await PostgresEngine.open(
                        try PostgresURL(db), logger: Logger(label: "hooktop", factory: { _ in SwiftLogNoOpLogHandler() })))
            }
            let benchmark = DeliveryBenchmark(events: events, endpoints: endpoints, maxInFlight: maxInFlight, rate: rate)
            let result = try await benchmark.run(engine: engine, otherLogs: others) { line in
                FileHandle.standardError.write(Data((line + "\n").utf8))
            }
            for other in others { await other.close() }
            await engine.close()
            return result
        }
        let path: String
        if let db {
            guard !FileManager.default.fileExists(atPath: db) else { throw HooktopError.invalid("\(db) exists: bench needs a new database") }
            path = db
        } else {
            try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            path = directory.appendingPathComponent("bench.db").path
        }
        defer { if db == nil { try? FileManager.default.removeItem(at: directory) } }
        let store = try Store(path: path)
        let benchmark = DeliveryBenchmark(events: events, endpoints: endpoints, maxInFlight: maxInFlight, rate: rate)
        return try await benchmark.run(store: store) { line in
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }

    private func report(_ results: [DeliveryBenchmark.Result]) throws {
        let rates = DeliveryBenchmark.Spread(results.map(\.deliveriesPerSecond))
        let cpu = DeliveryBenchmark.Spread(results.map(\.cpuMicrosecondsPerDelivery))
        if json {
            let object: [String: JSONValue] = results.count == 1 ? Self.json(results[0]) : [
                "runs": .array(results.map { .object(Self.json($0)) }), "median_deliveries_per_second": .number(rates.median),
                "min_deliveries_per_second": .number(rates.lowest), "max_deliveries_per_second": .number(rates.highest),
                "median_cpu_us_per_delivery": .number(cpu.median),
            ]
            try printJSON(object)
        } else if results.count > 1 {
            printText(String(
                format: "median of %d runs  %.0f deliveries/s (%.0f to %.0f), %.0f µs CPU per delivery", rates.count,
                rates.median, rates.lowest, rates.highest, cpu.median))
        } else {
            let result = results[0]
            printText(String(format: "deliveries        %d (%d events x %d endpoints)", result.deliveries, result.events, result.endpoints))
            printText(String(format: "time              %.2f s", result.seconds))
            printText(String(format: "throughput        %.0f deliveries/s", result.deliveriesPerSecond))
            printText(String(format: "publish→delivered p50 %.1f ms, p99 %.1f ms", result.p50Milliseconds, result.p99Milliseconds))
            printText(String(format: "peak memory       %.1f MiB", result.peakMemoryMiB))
            printText(String(format: "cpu               %.2f s, %.0f µs per delivery", result.cpuSeconds, result.cpuMicrosecondsPerDelivery))
            printText("recorded          \(result.attemptsRecorded) attempts, \(result.delivered) delivered, sink got \(result.sinkRequests) requests")
        }
    }

    private static func json(_ result: DeliveryBenchmark.Result) -> [String: JSONValue] {
        [
            "events": JSONValue(result.events), "endpoints": JSONValue(result.endpoints),
            "deliveries": JSONValue(result.deliveries), "seconds": .number(result.seconds),
            "deliveries_per_second": .number(result.deliveriesPerSecond), "p50_ms": .number(result.p50Milliseconds),
            "p99_ms": .number(result.p99Milliseconds), "peak_memory_mib": .number(result.peakMemoryMiB),
            "cpu_seconds": .number(result.cpuSeconds), "cpu_us_per_delivery": .number(result.cpuMicrosecondsPerDelivery),
            "attempts_recorded": JSONValue(result.attemptsRecorded), "delivered": JSONValue(result.delivered),
            "sink_requests": JSONValue(result.sinkRequests),
        ]
    }
}
