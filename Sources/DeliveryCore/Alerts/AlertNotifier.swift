import Foundation

/// Where alerts go: a webhook signed the Standard Webhooks way, a command fed the alert's JSON, or both.
public struct AlertDestinations: Sendable, Equatable {
    /// The alert webhook's URL.
    public var url: String?
    /// The alert webhook's signing secret, `whsec_…`.
    public var secret: String?
    /// A shell command run with the alert's JSON on its standard input (`/bin/sh -c`).
    public var command: String?
    /// Longest a webhook or a command may take.
    public var timeout: TimeInterval = 10

    public init(url: String? = nil, secret: String? = nil, command: String? = nil) {
        self.url = url
        self.secret = secret
        self.command = command
    }

    public var isEmpty: Bool { url == nil && command == nil }

    /// `url`, `exec`: the names `sent_to` records.
    public var names: [String] { (url == nil ? [] : ["url"]) + (command == nil ? [] : ["exec"]) }

    /// Checks the options together: a URL needs a valid secret, a secret needs a URL.
    public func validate() throws {
        if let url {
            guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), ["http", "https"].contains(scheme),
                parsed.host?.isEmpty == false
            else { throw HooktopError.invalid("--alert-url must be an http:// or https:// URL") }
            guard let secret else { throw HooktopError.invalid("--alert-url needs --alert-secret whsec_... to sign with") }
            do {
                _ = try WebhookSignature.key(fromSecret: secret)
            } catch {
                throw HooktopError.invalid("--alert-secret must be whsec_ followed by base64 of 24 to 64 bytes")
            }
        } else if secret != nil {
            throw HooktopError.invalid("--alert-secret is only used with --alert-url")
        }
        if let command, command.trimmingCharacters(in: .whitespaces).isEmpty {
            throw HooktopError.invalid("--alert-exec needs a command")
        }
    }
}

/// Sends one alert to its destinations.
public struct AlertNotifier: Sendable {
    public let destinations: AlertDestinations
    let sender: WebhookSender

    public init(destinations: AlertDestinations, sender: WebhookSender) {
        self.destinations = destinations
        self.sender = sender
    }

    /// Sends `alert` to every destination not in `done`.
    /// - Returns: the destinations that took it (with `done`), and one line per destination that did not.
    public func send(_ alert: Alert, skipping done: [String] = []) async -> (sentTo: [String], errors: [String]) {
        var sentTo = done
        var errors: [String] = []
        if let url = destinations.url, let secret = destinations.secret, !done.contains("url") {
            let outcome = await post(alert, to: url, secret: secret)
            if outcome.succeeded {
                sentTo.append("url")
            } else {
                errors.append("url: " + (outcome.responseStatus.map { "HTTP \($0)" } ?? outcome.summary ?? "no answer"))
            }
        }
        if let command = destinations.command, !done.contains("exec") {
            if let failure = await Self.run(command, input: WebhookSender.body(for: alert.message), alert: alert,
                timeout: destinations.timeout)
            {
                errors.append("exec: \(failure)")
            } else {
                sentTo.append("exec")
            }
        }
        return (sentTo, errors)
    }

    private func post(_ alert: Alert, to url: String, secret: String) async -> AttemptOutcome {
        let endpoint = Endpoint(
            id: "alerts", url: url, description: "alert destination", secret: secret,
            timeoutMilliseconds: Int(destinations.timeout * 1000), allowPrivateDestination: true, createdAt: alert.at,
            updatedAt: alert.at)
        let job = DeliveryJob(deliveryId: 0, endpoint: endpoint, message: alert.message, attemptNumber: 1, trigger: .manual)
        return await sender.send(job)
    }

    /// Runs `command` with `input` on its standard input (from a file, so a command that does not read it cannot
    /// block or break the sender); nil when it exits 0, else why not. Killed after `timeout`.
    static func run(_ command: String, input: String, alert: Alert, timeout: TimeInterval) async -> String? {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: runBlocking(command, input: input, alert: alert, timeout: timeout))
            }
        }
    }

    private static func runBlocking(_ command: String, input: String, alert: Alert, timeout: TimeInterval) -> String? {
        let directory = FileManager.default.temporaryDirectory
        let inputPath = directory.appendingPathComponent("hooktop-alert-\(alert.id)-\(UUID().uuidString).json").path
        let errorPath = inputPath + ".stderr"
        defer {
            unlink(inputPath)
            unlink(errorPath)
        }
        guard FileManager.default.createFile(atPath: inputPath, contents: Data(input.utf8), attributes: [.posixPermissions: 0o600]),
            FileManager.default.createFile(atPath: errorPath, contents: nil, attributes: [.posixPermissions: 0o600]),
            let stdin = FileHandle(forReadingAtPath: inputPath), let stderr = FileHandle(forWritingAtPath: errorPath)
        else { return "cannot write the alert to a temporary file in \(directory.path)" }
        defer {
            try? stdin.close()
            try? stderr.close()
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.standardInput = stdin
        process.standardOutput = FileHandle.nullDevice
        process.standardError = stderr
        var environment = ProcessInfo.processInfo.environment
        environment["HOOKTOP_ALERT_ID"] = alert.id
        environment["HOOKTOP_ALERT_TYPE"] = alert.type.rawValue
        environment["HOOKTOP_ALERT_SUMMARY"] = alert.summary
        process.environment = environment
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        do {
            try process.run()
        } catch {
            return "cannot start /bin/sh: \(error.localizedDescription)"
        }
        if finished.wait(timeout: .now() + timeout) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            finished.wait()
            return "killed after \(DurationText.format(timeout))"
        }
        if process.terminationReason == .uncaughtSignal { return "killed by signal \(process.terminationStatus)" }
        guard process.terminationStatus != 0 else { return nil }
        let said = (FileManager.default.contents(atPath: errorPath)).map { String(decoding: $0.prefix(300), as: UTF8.self) }
            .map { Sanitizer.line($0).trimmingCharacters(in: .whitespaces) } ?? ""
        return "exit \(process.terminationStatus)" + (said.isEmpty ? "" : ": \(said)")
    }
}
