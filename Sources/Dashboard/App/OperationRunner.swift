import DeliveryCore
import Foundation

/// Carries out operation effects off the UI thread, posting each result back as an action.
struct OperationRunner: Sendable {
    let log: any DeliveryLogReader & DeliveryOperations
    let actor: Principal
    let mailbox: Mailbox
    /// Called after an operation so the loader refreshes at once.
    let changed: @Sendable () -> Void

    func perform(_ operation: OperatorAction) {
        Task.detached { [self] in
            let result = await run(operation)
            mailbox.post(.operationFinished(operation, result))
            changed()
        }
    }

    func countRecoverable(endpointId: String, since: Date) {
        Task.detached { [self] in
            let result: Result<Int, OperationError>
            do {
                result = .success(try await log.recoverableCount(endpointId: endpointId, since: since))
            } catch {
                result = .failure(OperationError("\(error)"))
            }
            mailbox.post(.recoverableCounted(endpointId: endpointId, since: since, result))
        }
    }

    func countReplay(_ filter: DeliveryFilter) {
        Task.detached { [self] in
            let result: Result<Int, OperationError>
            do {
                result = .success(try await log.replay(filter, dryRun: true, by: actor))
            } catch let error as HooktopError {
                result = .failure(OperationError(error.message))
            } catch {
                result = .failure(OperationError("\(error)"))
            }
            mailbox.post(.replayCounted(filter, result))
        }
    }

    /// Runs one operation through `DeliveryOperations`.
    func run(_ operation: OperatorAction) async -> Result<OperationOutcome, OperationError> {
        do {
            switch operation {
            case .pause(let id): try await log.pause(endpointId: id, by: actor)
            case .resume(let id): try await log.resume(endpointId: id, by: actor)
            case .togglePause(let id):
                guard let endpoint = try await log.endpoint(id: id) else {
                    return .failure(OperationError("\(id) not found"))
                }
                if endpoint.status == .paused {
                    try await log.resume(endpointId: id, by: actor)
                } else {
                    try await log.pause(endpointId: id, by: actor)
                }
            case .disable(let id):
                try await log.disable(endpointId: id, reason: "disabled from the dashboard", by: actor)
            case .enable(let id): try await log.enable(endpointId: id, by: actor)
            case .redeliver(let id, _): return .success(.redelivery(try await log.redeliver(deliveryId: id, by: actor)))
            case .recover(let id, let since):
                return .success(.recovered(try await log.recover(endpointId: id, since: since, by: actor)))
            case .cancel(let id): try await log.cancel(deliveryId: id, by: actor)
            case .setRateLimit(let id, let limit): try await log.setRateLimit(endpointId: id, limit: limit, by: actor)
            case .replay(let filter):
                return .success(.replayed(try await log.replay(filter, dryRun: false, by: actor)))
            case .testPing(let id):
                let outcome = try await log.testEndpoint(id: id, by: actor)
                return .success(
                    .pinged(
                        status: outcome.responseStatus, milliseconds: outcome.durationMilliseconds,
                        error: outcome.succeeded ? nil : (outcome.errorMessage ?? outcome.summary)))
            }
            return .success(.done)
        } catch let error as HooktopError {
            return .failure(OperationError(error.message))
        } catch {
            return .failure(OperationError("\(error)"))
        }
    }
}
