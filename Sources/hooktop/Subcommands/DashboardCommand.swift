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

    func run() throws {
        let store: Store
        do {
            store = try database.open(readOnly: readOnly, create: false).store
        } catch let error as HooktopError {
            fail(error.message)
        }
        let sender = WebhookSender()
        defer { _ = blockingAwait { await sender.shutdown() } }
        try runDashboard(store: store, readOnly: readOnly, mouse: mouse, sender: sender)
    }
}

/// Runs the dashboard over `store` on the calling (main) thread until the operator quits.
func runDashboard(
    store: Store, readOnly: Bool, mouse: Bool, sender: WebhookSender,
    wake: @escaping @Sendable () -> Void = {}
) throws {
    let console = OperatorConsole(operations: Operations(store: store, sender: sender, wake: wake))
    var options = DashboardOptions()
    options.databaseName = URL(fileURLWithPath: store.path).lastPathComponent
    options.readOnly = readOnly || store.isReadOnly
    options.mouse = mouse
    options.stderrLogPath = store.path + ".dashboard.log"
    do {
        try DashboardApp.run(log: console, options: options)
    } catch {
        fail("\(error)")
    }
}
