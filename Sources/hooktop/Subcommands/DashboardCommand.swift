import ArgumentParser
import Dashboard
import DeliveryCore
import Foundation

struct DashboardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dashboard", abstract: "Open the operator's dashboard over the delivery log (the default command).")
    @OptionGroup var database: DatabaseOptions
    @Flag(help: "Open the database read-only: every action is refused.") var readOnly = false
    @Flag(help: "Enable the mouse: click selects a row, the wheel scrolls.") var mouse = false
    @Option(help: "Show `overdue` in the header once due work is this late, like 30s or 5m.") var overdueAfter = "30s"

    func run() throws {
        guard let overdue = DurationText.seconds(overdueAfter), overdue > 0 else {
            fail("--overdue-after must be a duration like 30s or 5m")
        }
        let store: Store
        do {
            store = try database.open(readOnly: readOnly, create: false).store
        } catch let error as HooktopError {
            fail(error.message)
        }
        // Test pings (`t`) go out the way `serve` sends: through the environment's proxy, when one is set.
        var configuration = WebhookSender.Configuration()
        configuration.proxy = try? ProxySettings.fromEnvironment()
        let sender = WebhookSender(configuration: configuration)
        defer { _ = blockingAwait { await sender.shutdown() } }
        try runDashboard(store: store, readOnly: readOnly, mouse: mouse, sender: sender, overdueAfter: overdue)
    }
}

/// Runs the dashboard over `store` on the calling (main) thread until the operator quits.
func runDashboard(
    store: Store, readOnly: Bool, mouse: Bool, sender: WebhookSender, overdueAfter: TimeInterval = 30,
    wake: @escaping @Sendable () -> Void = {}
) throws {
    let console = OperatorConsole(operations: Operations(store: store, sender: sender, wake: wake))
    var options = DashboardOptions()
    options.databaseName = URL(fileURLWithPath: store.path).lastPathComponent
    options.readOnly = readOnly || store.isReadOnly
    options.mouse = mouse
    options.overdueAfter = overdueAfter
    options.stderrLogPath = store.path + ".dashboard.log"
    do {
        try DashboardApp.run(log: console, options: options)
    } catch {
        fail("\(error)")
    }
}
