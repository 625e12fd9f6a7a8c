import ArgumentParser

struct Receive: AsyncParsableCommand {
    func run() async throws { fail("not available yet") }
}
