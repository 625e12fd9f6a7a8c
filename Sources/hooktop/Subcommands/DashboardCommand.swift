import ArgumentParser

struct DashboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "dashboard")
    func run() async throws { fail("not available yet") }
}
