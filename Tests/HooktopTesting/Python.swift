import Foundation

/// Runs `python3 -c script arguments...` with `input` on stdin, killing it after 30 seconds. The wait is on a thread of
/// its own (`offThePool`).
public func runPython(_ script: String, arguments: [String], input: [UInt8]) async throws
    -> (status: Int32, output: String, error: String)
{
    try await offThePool { try runPythonBlocking(script, arguments: arguments, input: input) }
}

private func runPythonBlocking(_ script: String, arguments: [String], input: [UInt8]) throws
    -> (status: Int32, output: String, error: String)
{
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", script] + arguments
    let stdin = Pipe()
    let stdout = Pipe()
    let stderr = Pipe()
    process.standardInput = stdin
    process.standardOutput = stdout
    process.standardError = stderr
    let finished = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in finished.signal() }
    try process.run()
    stdin.fileHandleForWriting.write(Data(input))
    try stdin.fileHandleForWriting.close()
    // Outputs are small (a few lines), well under a pipe buffer: read after exit.
    if finished.wait(timeout: .now() + 30) == .timedOut {
        process.terminate()
        kill(process.processIdentifier, SIGKILL)
        finished.wait()
        return (-1, "", "python3 did not finish within 30 s")
    }
    let output = String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let error = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    return (process.terminationStatus, output, error)
}
