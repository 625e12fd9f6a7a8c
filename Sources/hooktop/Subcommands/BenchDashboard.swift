import ArgumentParser
import Dashboard
import DeliveryCore
import Foundation
import HooktopLab

/// `hooktop bench-dashboard`: the dashboard's first paint, refresh and idle cost on a database, without a terminal.
struct BenchDashboard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-dashboard",
        abstract: "Measure the dashboard on a database: first paint, refresh time per view, CPU while idle.",
        discussion: """
            Opens the database read-only. First paint is state init + first load + first render of the Endpoints \
            view; each view is then refreshed --frames times (queries and rendering timed apart); finally the real UI \
            loop runs on an in-memory screen that gets no key for --idle seconds, and its CPU time is read.
            Targets: first paint within 300 ms, a refresh within 10 ms, idle under 1% of a core.
            """)

    @OptionGroup var database: DatabaseOptions
    @Option(help: "Refreshes measured per view.") var frames = 50
    @Option(help: "Seconds the idle session runs (0 skips it).") var idle: Double = 5
    @Option(help: "Screen width in cells.") var width = 80
    @Option(help: "Screen height in cells.") var height = 24
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard (1...100_000).contains(frames) else { throw ValidationError("--frames must be from 1 to 100000") }
        guard (0...600).contains(idle) else { throw ValidationError("--idle must be from 0 to 600 seconds") }
        guard (40...1000).contains(width), (10...1000).contains(height) else {
            throw ValidationError("the screen must be at least 40x10 (the dashboard's minimum)")
        }
    }

    func run() async throws {
        try await reportingErrors {
            let start = DispatchTime.now().uptimeNanoseconds
            let engine = try await database.open(readOnly: true, create: false)
            let openMilliseconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1_000_000
            let console = OperatorConsole(operations: Operations(engine: engine))
            var options = DashboardOptions(readOnly: true)
            options.databaseName = URL(fileURLWithPath: engine.location).lastPathComponent
            let benchmark = DashboardBenchmark(frames: frames, width: width, height: height, idleSeconds: idle)
            let result = await benchmark.run(log: console, options: options) { step in
                if !json { FileHandle.standardError.write(Data("… \(step)\n".utf8)) }
            }
            if json {
                try printJSON(Self.json(result, openMilliseconds: openMilliseconds, benchmark: benchmark, path: engine.location))
            } else {
                printText(Self.table(result, openMilliseconds: openMilliseconds, benchmark: benchmark, path: engine.location))
            }
        }
    }

    static func json(
        _ r: DashboardBenchmark.Result, openMilliseconds: Double, benchmark: DashboardBenchmark, path: String
    ) -> [String: JSONValue] {
        func number(_ value: Double) -> JSONValue { .number(round3(value)) }
        func stats(_ p: DashboardBenchmark.Percentiles) -> JSONValue {
            ["p50": number(p.p50), "p95": number(p.p95), "max": number(p.max)]
        }
        var object: [String: JSONValue] = [
            "database": .string(path), "deliveries": JSONValue(r.deliveries), "endpoints": JSONValue(r.endpoints),
            "screen": .string("\(benchmark.width)x\(benchmark.height)"), "frames_per_view": JSONValue(benchmark.frames),
            "open_ms": number(openMilliseconds),
            "first_paint_ms": number(r.firstPaintMilliseconds),
            "first_paint_query_ms": number(r.firstPaintQueryMilliseconds),
            "first_paint_render_ms": number(r.firstPaintRenderMilliseconds),
            "views": .array(
                r.views.map { v in
                    [
                        "view": .string(v.name), "rows": JSONValue(v.rows), "query_ms": stats(v.query),
                        "render_ms": stats(v.render), "frame_ms": stats(v.frame),
                    ]
                }),
            "peak_memory_mib": number(r.peakMemoryMiB),
        ]
        if let idle = r.idle {
            object["idle"] = [
                "seconds": number(idle.seconds), "cpu_seconds": number(idle.cpuSeconds),
                "percent_of_core": number(idle.percentOfCore), "frames_drawn": JSONValue(idle.framesDrawn),
            ]
        }
        return object
    }

    static func table(
        _ r: DashboardBenchmark.Result, openMilliseconds: Double, benchmark: DashboardBenchmark, path: String
    ) -> String {
        func ms(_ value: Double) -> String { String(format: "%8.2f", value) }
        var lines = [
            "database     \(path) (\(r.deliveries) deliveries, \(r.endpoints) endpoints)",
            "screen       \(benchmark.width)x\(benchmark.height), \(benchmark.frames) refreshes per view",
            String(format: "open         %.2f ms", openMilliseconds),
            String(
                format: "first paint  %.2f ms (query %.2f, render %.2f)  target 300 ms", r.firstPaintMilliseconds,
                r.firstPaintQueryMilliseconds, r.firstPaintRenderMilliseconds),
            "",
            "VIEW          ROWS   QUERY p50   p95      max  RENDER p50   p95      max   FRAME p95",
        ]
        for v in r.views {
            lines.append(
                v.name.padding(toLength: 12, withPad: " ", startingAt: 0) + String(format: "%5d", v.rows) + "  "
                    + ms(v.query.p50) + ms(v.query.p95) + ms(v.query.max) + "  " + ms(v.render.p50)
                    + ms(v.render.p95) + ms(v.render.max) + "  " + ms(v.frame.p95))
        }
        lines.append("(milliseconds; target: a refresh within 10 ms)")
        lines.append("")
        if let idle = r.idle {
            lines.append(
                String(
                    format: "idle         %.2f%% of a core (%.3f s CPU in %.1f s, %d frames drawn)  target < 1%%",
                    idle.percentOfCore, idle.cpuSeconds, idle.seconds, idle.framesDrawn))
        }
        lines.append(String(format: "peak memory  %.1f MiB", r.peakMemoryMiB))
        return lines.joined(separator: "\n")
    }

    private static func round3(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }
}
