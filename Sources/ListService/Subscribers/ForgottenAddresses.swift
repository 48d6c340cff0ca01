import Foundation
import Mailer
import Postgres

/// The people erased by `listctl subscribers forget` (docs/SUPPRESSION.md
/// "Erasure"), as the keyed hashes of their addresses in
/// `forgotten_addresses`: the address itself is gone, but an import,
/// `subscribers add` or a sign-up of the same address is recognised.
///
/// Every check hashes the address under each configured key
/// (``ForgetKeys``), so people forgotten before a key rotation stay
/// forgotten while the old key is kept in the file.
public struct ForgottenAddresses: Sendable {
    public let database: ListDatabase
    /// `nil` when no forget key is configured: then a check passes only while nobody was ever forgotten.
    public let keys: ForgetKeys?

    public init(database: ListDatabase, keys: ForgetKeys?) {
        self.database = database
        self.keys = keys
    }

    /// Whether `email` was forgotten (its own transaction; for a check that
    /// decides a write, use ``contains(_:on:)`` inside the write's transaction).
    /// - Throws: ``ListServiceError`` `.invalidInput` for a bad address; `.configuration` when people were
    ///   forgotten and no forget key is configured, so nobody can tell.
    public func contains(_ email: String) async throws -> Bool {
        let address = try SuppressionList.key(email)
        return try await database.pool.withConnection { connection in
            try await Self.contains(address: address, keys: keys, on: connection, lock: false)
        }
    }

    /// Whether `email` was forgotten, on `connection`, inside the caller's
    /// transaction (a sign-up's, say), before it adds the person. Takes a
    /// per-address lock until that transaction ends, so a `forget` of the same
    /// address running at the same time either waits for the sign-up (and then
    /// erases what it wrote) or is seen by it.
    /// - Throws: as ``contains(_:)``.
    public func contains(_ email: String, on connection: PostgresConnection) async throws -> Bool {
        try await Self.contains(address: try SuppressionList.key(email), keys: keys, on: connection, lock: true)
    }

    /// The person's own double opt-in confirmation (and nothing else) brings a
    /// forgotten address back: removes its hash under every key, on
    /// `connection`, in the caller's transaction.
    /// - Returns: whether the address was forgotten.
    /// - Throws: as ``contains(_:)``.
    @discardableResult
    public func remove(_ email: String, on connection: PostgresConnection) async throws -> Bool {
        let address = try SuppressionList.key(email)
        try await Self.lock(address: address, on: connection)
        guard let keys else {
            try await Self.requireNoneForgotten(on: connection)
            return false
        }
        return try await connection.query(
            "DELETE FROM forgotten_addresses WHERE hash IN (SELECT decode(h, 'hex') FROM unnest($1::text[]) AS h)",
            Self.hexHashes(address, keys)).affectedRows > 0
    }

    /// How many people are forgotten, and how many of them only under a key no longer configured (they no
    /// longer match anything: see the rotation in docs/SUPPRESSION.md).
    public func count() async throws -> (total: Int, unmatched: Int) {
        let ids = (keys?.keys ?? []).map { Int64($0.id) }
        return try await database.pool.withConnection { connection in
            let row = try await connection.query(
                "SELECT count(*), count(*) FILTER (WHERE key_id <> ALL ($1::bigint[])) FROM forgotten_addresses", ids)[0]
            return (try row.decode(at: 0), try row.decode(at: 1))
        }
    }

    static func contains(address: String, keys: ForgetKeys?, on connection: PostgresConnection, lock: Bool) async throws -> Bool {
        if lock { try await Self.lock(address: address, on: connection) }
        guard let keys else {
            try await requireNoneForgotten(on: connection)
            return false
        }
        return try await connection.query(
            "SELECT EXISTS (SELECT 1 FROM forgotten_addresses WHERE hash IN (SELECT decode(h, 'hex') FROM unnest($1::text[]) AS h))",
            hexHashes(address, keys))[0].decode(at: 0)
    }

    /// With no key nobody can be recognised: fine only while nobody was forgotten.
    static func requireNoneForgotten(on connection: PostgresConnection) async throws {
        let forgotten: Int = try await connection.query("SELECT count(*) FROM forgotten_addresses")[0].decode(at: 0)
        guard forgotten == 0 else { throw noKey(forgotten: forgotten) }
    }

    static func noKey(forgotten: Int) -> ListServiceError {
        ListServiceError(
            code: .configuration,
            message: "\(forgotten) \(forgotten == 1 ? "person was" : "people were") forgotten, and no forget key is set (LISTCTL_FORGET_KEY or LISTCTL_FORGET_KEY_FILE), so listctl cannot tell whether an address is one of them; nothing changed. Use the key that `listctl subscribers forget` used. \(ForgetKeys.howToCreate)")
    }

    /// Why an operator's write of a forgotten address is refused.
    static func refusal(_ address: String, action: String) -> ListServiceError {
        ListServiceError(
            code: .conflict,
            message: "\(address) was forgotten (`listctl subscribers forget`): only a keyed hash of the address is kept, it is never mailed, and \(action) would store the address again; nothing changed. Only the person's own confirmation of a sign-up brings them back")
    }

    /// The per-address lock that `forget` and the checks before adding someone take (transaction-level).
    static func lock(address: String, on connection: PostgresConnection) async throws {
        try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended('listctl.forget:' || lower($1), 0))", address)
    }

    /// The hashes of `address` under every key, as hex (for `decode(…, 'hex')`).
    static func hexHashes(_ address: String, _ keys: ForgetKeys) -> [String] {
        keys.hashes(emailKey: address.lowercased()).map(Digest.hex)
    }
}
