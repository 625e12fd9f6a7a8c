import Foundation
import Synchronization

/// A subprocess whose output is collected in the background, with bounded waits.
public final class ChildProcess: Sendable {
    private let process: Process
    private let output = OutputBuffer()

    /// Starts `executable` with `arguments`; stdout and stderr are collected together.
    public init(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        self.process = process
        try process.run()
        // Read on a thread of its own until end of file (the child exited): a dispatch read source
        // (`readabilityHandler`) could still be registered on the descriptor when this object went away, and
        // libdispatch then crashed draining it.
        let output = self.output
        let reading = pipe.fileHandleForReading
        Thread {
            while true {
                let data = reading.availableData
                if data.isEmpty {
                    output.ended.store(true, ordering: .releasing)
                    return
                }
                output.text.withLock { $0 += String(decoding: data, as: UTF8.self) }
            }
        }.start()
    }

    public var pid: Int32 { process.processIdentifier }
    public var text: String { output.text.withLock { $0 } }
    public var isRunning: Bool { process.isRunning && kernelExitStatus() == nil }

    /// The child's exit status once it has ended, asked of the kernel without reaping it (Foundation still does):
    /// in full parallel test runs Foundation's `isRunning` was seen to stay true for a minute after a child exited,
    /// its output complete. nil while it runs, or once Foundation has reaped it.
    private func kernelExitStatus() -> Int32? {
        var info = siginfo_t()
        let pid = process.processIdentifier
        guard waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0, info._sifields._sigchld.si_pid == pid
        else { return nil }
        // The exit code, or the signal that ended it (as Foundation's `terminationStatus` gives it).
        return info._sifields._sigchld.si_status
    }

    /// Waits until the output contains `needle`; returns the output, or nil on timeout or exit.
    public func waitFor(_ needle: String, timeout: Duration = .seconds(20)) async -> String? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let current = text
            if current.contains(needle) { return current }
            if !isRunning {
                await outputEnded()
                return text.contains(needle) ? text : nil
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    public func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for the process to end and for its output to be read to the end; returns its exit status, or nil after
    /// `timeout` (the process is then killed).
    public func waitForExit(timeout: Duration = .seconds(20)) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let status = exitStatus {
                await outputEnded()
                return status
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        if let status = exitStatus {
            await outputEnded()
            return status
        }
        kill(process.processIdentifier, SIGKILL)
        return nil
    }

    private var exitStatus: Int32? {
        process.isRunning ? kernelExitStatus() : process.terminationStatus
    }

    /// Waits until the output has been read to its end: the reading thread may lag behind the exit on a loaded
    /// machine. Bounded, since a process the child started may hold the pipe open.
    private func outputEnded(timeout: Duration = .seconds(5)) async {
        let deadline = ContinuousClock.now + timeout
        while !output.ended.load(ordering: .acquiring), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    deinit {
        // Killed, not waited for: Foundation reaps it, and a wait here could outlast a lost exit notice.
        if isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

final class OutputBuffer: Sendable {
    let text = Mutex<String>("")
    /// The pipe reached end of file: `text` is complete.
    let ended = Atomic<Bool>(false)
}

/// Runs `executable` to completion (at most `timeout`), returning its exit status and output.
public func runProcess(_ executable: String, _ arguments: [String], timeout: Duration = .seconds(60)) async throws
    -> (status: Int32, output: String)
{
    let child = try ChildProcess(executable, arguments)
    let status = await child.waitForExit(timeout: timeout) ?? -1
    return (status, child.text)
}
