import DeliveryCore
import Foundation
import HooktopTesting
import Testing

/// `hooktop demo --headless`: the real command, on a database the test then reads.
struct DemoHeadlessTests {
    @Test(.timeLimit(.minutes(2)))
    func producesDeliveriesInEveryPromisedState() async throws {
        let executable = try #require(hooktopExecutable(), "build the hooktop product first")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hooktop-demo-test-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/hooktop.db"
        let run = try await runProcess(
            executable, ["demo", "--headless", "--duration", "12", "--rate", "20", "--db", path], timeout: .seconds(60))
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("published"))
        #expect(run.output.contains("hooktop --db \(path)"))

        let store = try Store(path: path, readOnly: true)
        let summaries = try store.endpointSummaries(now: Date())
        #expect(summaries.count == 7)
        let totals = try store.overview(now: Date()).totals
        #expect(totals.delivered > 50)
        #expect(totals.retrying > 0)
        #expect(totals.dead > 0)
        #expect(totals.inflight == 0, "the demo hands back in-flight work when it stops")
        let byName = Dictionary(uniqueKeysWithValues: summaries.map { ($0.endpoint.url.split(separator: "/").last.map(String.init) ?? "", $0) })
        #expect(byName["gone"]?.endpoint.status == .disabled)
        #expect(byName["gone"]?.endpoint.disabledReason?.contains("410") == true)
        #expect(byName["healthy"]?.counts.delivered ?? 0 > 0)
        #expect(byName["down"]?.lastError?.contains("connect_refused") == true)
        #expect(byName["hanging"]?.lastError?.contains("timeout") == true)
        #expect(byName["rate-limited"]?.lastError?.contains("429") == true)
        #expect(byName["flaky"]?.lastError?.contains("500") == true)
        #expect((byName["slow"]?.recent.p50Milliseconds ?? 0) > 500)
    }

    @Test func badArgumentsAreOneLineErrors() async throws {
        let executable = try #require(hooktopExecutable())
        for arguments in [["demo", "--rate", "0"], ["demo", "--duration", "-1"], ["publish", "x..y", "--db", "/nonexistent/dir/x.db"]] {
            let run = try await runProcess(executable, arguments, timeout: .seconds(20))
            #expect(run.status != 0, "\(arguments)")
            #expect(!run.output.contains("Fatal error"), "\(arguments): \(run.output)")
        }
        let bench = [
            (["bench", "--runs", "0"], "--runs must be from 1 to 100"),
            (["bench", "--runs", "2", "--db", "/tmp/hooktop-bench-runs-test.db"], "--db takes one run"),
        ]
        for (arguments, message) in bench {
            let run = try await runProcess(executable, arguments, timeout: .seconds(20))
            #expect(run.status != 0, "\(arguments)")
            let lines = run.output.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].contains(message), "\(arguments): \(run.output)")
        }
    }

    /// Commands that open many connections raise the soft open-files limit to the hard one, and refuse with one line
    /// when even that is too low (running out mid-run would fail connections at random, or worse).
    @Test(.timeLimit(.minutes(2)))
    func benchRaisesTheOpenFilesLimitOrRefusesToStart() async throws {
        let executable = try #require(hooktopExecutable())
        let refused = try await runProcess(
            "/bin/sh", ["-c", "ulimit -n 300 && exec '\(executable)' bench --events 10 --max-in-flight 200"],
            timeout: .seconds(20))
        #expect(refused.status != 0)
        let lines = refused.output.split(separator: "\n")
        #expect(
            lines.count == 1 && lines[0].contains("--max-in-flight 200 needs 464 open files")
                && lines[0].contains("only 300"), "\(refused.output)")

        // Only the soft limit lowered: the command raises it again to the hard limit and runs.
        let raised = try await runProcess(
            "/bin/sh", ["-c", "ulimit -S -n 300 && exec '\(executable)' bench --events 50 --endpoints 2 --max-in-flight 200"],
            timeout: .seconds(60))
        if OpenFileLimit.current().hard >= 464 {
            #expect(raised.status == 0, "\(raised.output)")
            #expect(raised.output.contains("recorded          100 attempts, 100 delivered"), "\(raised.output)")
        } else {
            #expect(raised.status != 0 && raised.output.contains("needs 464 open files"), "\(raised.output)")
        }
    }

    /// `hooktop bench --runs`: each run on a new database, then the median.
    @Test(.timeLimit(.minutes(2)))
    func benchRunsSeveralTimesAndPrintsTheMedian() async throws {
        let executable = try #require(hooktopExecutable())
        let run = try await runProcess(
            executable, ["bench", "--events", "100", "--endpoints", "2", "--max-in-flight", "8", "--runs", "3", "--json"],
            timeout: .seconds(90))
        #expect(run.status == 0, "\(run.output)")
        // Progress lines (stderr) may come first; the JSON object is the rest of the output.
        let start = try #require(run.output.hasPrefix("{") ? run.output.startIndex : run.output.range(of: "\n{")?.lowerBound)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(run.output[start...].utf8)) as? [String: Any])
        let runs = try #require(object["runs"] as? [[String: Any]])
        #expect(runs.count == 3)
        #expect(runs.allSatisfy { $0["delivered"] as? Int == 200 && $0["attempts_recorded"] as? Int == 200 })
        let rates = runs.compactMap { $0["deliveries_per_second"] as? Double }.sorted()
        #expect(object["median_deliveries_per_second"] as? Double == rates[1])
        #expect(object["min_deliveries_per_second"] as? Double == rates[0])
        #expect((object["median_cpu_us_per_delivery"] as? Double ?? 0) > 0)

        let http = try await runProcess(
            executable, ["bench", "--http-only", "--events", "200", "--endpoints", "1", "--max-in-flight", "4", "--runs", "2"],
            timeout: .seconds(60))
        #expect(http.status == 0, "\(http.output)")
        let lines = http.output.split(separator: "\n")
        #expect(lines.filter { $0.hasPrefix("http only") && $0.contains("(200 requests, 4 at a time") }.count == 2, "\(http.output)")
        #expect(lines.last?.hasPrefix("median of 2 runs") == true, "\(http.output)")
    }
}
