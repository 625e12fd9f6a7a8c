import ArgumentParser

struct BenchDashboard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench-dashboard")
    func run() async throws { fail("not available yet") }
}
