import ArgumentParser
import DeliveryCore
import Foundation
import Logging

/// Where `serve` sends alerts and when it raises them.
struct AlertOptions: ParsableArguments {
    @Option(help: "Send alerts as webhooks to this URL, signed with --alert-secret (Standard Webhooks).")
    var alertURL: String?
    @Option(help: "The alert webhook's signing secret, whsec_... (hooktop receive and the reference libraries verify it).")
    var alertSecret: String?
    @Option(help: "Run this shell command for each alert, with the alert's JSON on its standard input.")
    var alertExec: String?
    @Option(help: "endpoint.failing after this long without a success while attempts fail.")
    var alertFailingAfter = "10m"
    @Option(help: "deliveries.dead when more than this many of an endpoint's deliveries die within --alert-window.")
    var alertDeadThreshold = 0
    @Option(help: "At most one alert per endpoint and type within this long; also the window dead deliveries are counted in.")
    var alertWindow = "1h"
    @Option(help: "backlog.overdue when the oldest due delivery is later than this.") var alertOverdueAfter = "5m"
    @Option(help: "endpoint.disabled again this often while an endpoint stays disabled.") var alertReminder = "24h"
    @Option(help: "dispatcher.stale when another dispatcher's heartbeat is older than this.") var alertStaleAfter = "30s"
    @Option(help: "How often the log is checked for alerts.") var alertCheckInterval = "5s"

    var destinations: AlertDestinations {
        get throws {
            let destinations = AlertDestinations(url: alertURL, secret: alertSecret, command: alertExec)
            try destinations.validate()
            return destinations
        }
    }

    func configuration() throws -> AlertMonitor.Configuration {
        var configuration = AlertMonitor.Configuration()
        configuration.destinations = try destinations
        var policy = AlertPolicy()
        policy.failingAfter = try duration(alertFailingAfter, "--alert-failing-after", 1...(30 * 86400))
        guard (0...1_000_000).contains(alertDeadThreshold) else {
            throw HooktopError.invalid("--alert-dead-threshold must be from 0 to 1000000")
        }
        policy.deadThreshold = alertDeadThreshold
        policy.window = try duration(alertWindow, "--alert-window", 1...(7 * 86400))
        policy.overdueAfter = try duration(alertOverdueAfter, "--alert-overdue-after", 1...(7 * 86400))
        policy.reminderEvery = try duration(alertReminder, "--alert-reminder", 60...(30 * 86400))
        policy.staleAfter = try duration(alertStaleAfter, "--alert-stale-after", 6...86400)
        configuration.policy = policy
        configuration.checkInterval = try duration(alertCheckInterval, "--alert-check-interval", 0.2...3600)
        configuration.sendInterval = min(1, configuration.checkInterval)
        return configuration
    }

    private func duration(_ text: String, _ option: String, _ range: ClosedRange<TimeInterval>) throws -> TimeInterval {
        guard let seconds = DurationText.seconds(text), range.contains(seconds) else {
            throw HooktopError.invalid(
                "\(option) must be a duration from \(DurationText.format(range.lowerBound)) to "
                    + "\(DurationText.format(range.upperBound)), like \(option == "--alert-stale-after" ? "30s" : "10m")")
        }
        return seconds
    }
}

struct Alerts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The operational alerts serve raised (endpoint disabled or failing, dead deliveries, ...), newest first.",
        subcommands: [List.self, Test.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List recorded alerts, newest first.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "How many alerts, from 1 to 10000.") var limit = 50
        @Flag(help: "Print JSON lines.") var json = false

        func run() async throws {
            try await reportingErrors {
                guard (1...10_000).contains(limit) else { throw HooktopError.invalid("--limit must be from 1 to 10000") }
                let alerts = try await database.open(readOnly: true).alerts(before: nil, limit: limit)
                if json {
                    for alert in alerts { print(try JSONRepresentation.encode(AlertObject(alert))) }
                    return
                }
                let style = Date.ISO8601FormatStyle(timeZone: .current)
                printText(
                    TextTable.render(
                        header: ["AT", "TYPE", "SENT", "SUMMARY"],
                        rows: alerts.map { alert in
                            [style.format(alert.at), alert.type.rawValue, AlertLines.status(alert), alert.summary]
                        }))
            }
        }
    }

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send a test alert: to the destinations given here, or else through a running serve's.",
            discussion: """
                With --alert-url/--alert-secret or --alert-exec, this command sends the test alert itself. Without
                them, it records the alert for a running serve with alert destinations to send, and waits for it.
                Exit 0 when every destination took it, 2 otherwise.
                """)
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Send to this URL, signed with --alert-secret.") var alertURL: String?
        @Option(help: "The alert webhook's signing secret, whsec_....") var alertSecret: String?
        @Option(help: "Run this shell command with the alert's JSON on its standard input.") var alertExec: String?
        @Option(help: "How long to wait for a running serve to send it.") var wait = "15s"

        func run() async throws {
            try await reportingErrors {
                let destinations = AlertDestinations(url: alertURL, secret: alertSecret, command: alertExec)
                try destinations.validate()
                guard let waitSeconds = DurationText.seconds(wait), (1...600).contains(waitSeconds) else {
                    throw HooktopError.invalid("--wait must be a duration from 1s to 10m, like 15s")
                }
                let engine = try await database.open()
                let actor = Principal.current(via: "cli")
                if !destinations.isEmpty {
                    var configuration = AlertMonitor.Configuration()
                    configuration.destinations = destinations
                    let sender = WebhookSender()
                    let monitor = AlertMonitor(
                        engine: engine, sender: sender, ownWorker: nil, configuration: configuration,
                        logger: Logger(label: "hooktop", factory: { _ in SwiftLogNoOpLogHandler() }))
                    let result = try await monitor.sendTest(by: actor)
                    await sender.shutdown()
                    await engine.close()
                    if let error = result.error { fail("test alert \(result.alert.id) not taken: \(error)", code: 2) }
                    printText("test alert \(result.alert.id) sent to \(destinations.names.joined(separator: " and "))")
                    return
                }
                let now = Date()
                guard
                    let alert = try await engine.recordAlert(
                        AlertRules.test(by: actor, now: now), status: .pending, leasedTo: nil, now: now)
                else { throw HooktopError(.database, "the test alert was not recorded") }
                try await engine.recordAudit(
                    action: "alert.test", objectType: "alert", objectId: alert.id, detail: "queued for serve", now: now,
                    by: actor)
                let deadline = Date().addingTimeInterval(waitSeconds)
                while Date() < deadline {
                    try await Task.sleep(for: .milliseconds(200))
                    guard let current = try await engine.alert(id: alert.id) else { break }
                    switch current.status {
                    case .sent:
                        printText("test alert \(alert.id) sent by serve to \(current.sentTo.joined(separator: " and "))")
                        return
                    case .failed, .unsent:
                        fail("test alert \(alert.id) not taken: \(current.lastError ?? current.status.rawValue)", code: 2)
                    case .pending where current.attempts > 0:
                        fail("test alert \(alert.id) not taken: \(current.lastError ?? "refused")", code: 2)
                    case .pending:
                        continue
                    }
                }
                _ = try await engine.abandonAlert(
                    sequence: alert.sequence, reason: "no serve with alert destinations sent it", now: Date())
                fail(
                    "no running serve with alert destinations sent test alert \(alert.id) within \(wait) "
                        + "(start serve with --alert-url or --alert-exec, or give them here)", code: 2)
            }
        }
    }
}

/// Alerts as people read them.
enum AlertLines {
    /// `sent`, `pending (2 tries: url: HTTP 500)`, `failed: ...`, `unsent`.
    static func status(_ alert: Alert) -> String {
        switch alert.status {
        case .sent: return "sent"
        case .unsent: return "unsent"
        case .failed: return "failed" + (alert.lastError.map { ": \($0)" } ?? "")
        case .pending:
            guard alert.attempts > 0 else { return "pending" }
            return "retrying (\(alert.attempts) tries" + (alert.lastError.map { ": \($0)" } ?? "") + ")"
        }
    }
}
