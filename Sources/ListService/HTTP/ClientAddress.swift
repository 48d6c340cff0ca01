import Foundation

/// Who a request came from. Behind a reverse proxy the TCP peer is the proxy;
/// `X-Forwarded-For` names the client, but only a proxy listed in
/// `LISTCTL_TRUSTED_PROXIES` may say so (anyone else could forge it). The
/// client is the right-most address of the header that is not itself a
/// trusted proxy (each proxy appends the address it saw).
public struct TrustedProxies: Sendable, Equatable {
    /// Address ranges: the address's bytes and the prefix length in bits.
    var ranges: [(bytes: [UInt8], bits: Int)]

    public static let none = TrustedProxies(ranges: [])
    /// 127.0.0.0/8 and ::1.
    static let loopback = try! TrustedProxies(parsing: "127.0.0.0/8, ::1")

    public static func == (a: TrustedProxies, b: TrustedProxies) -> Bool {
        a.ranges.map(\.bytes) == b.ranges.map(\.bytes) && a.ranges.map(\.bits) == b.ranges.map(\.bits)
    }

    init(ranges: [(bytes: [UInt8], bits: Int)]) { self.ranges = ranges }

    /// Parses `LISTCTL_TRUSTED_PROXIES`: addresses or CIDR ranges, comma- or space-separated
    /// (`127.0.0.1, 10.0.0.0/8, ::1`).
    /// - Throws: ``ListServiceError`` `.configuration` naming the entry that is not one.
    public init(parsing text: String) throws {
        var ranges: [(bytes: [UInt8], bits: Int)] = []
        for entry in text.split(whereSeparator: { $0 == "," || $0 == " " }) where !entry.isEmpty {
            let pieces = entry.split(separator: "/", maxSplits: 1).map(String.init)
            guard let bytes = Self.bytes(of: pieces[0]) else {
                throw ListServiceError(code: .configuration, message: "LISTCTL_TRUSTED_PROXIES: \"\(entry)\" is not an IP address or range (write 10.0.0.1, 10.0.0.0/8 or ::1)")
            }
            var bits = bytes.count * 8
            if pieces.count == 2 {
                guard let given = Int(pieces[1]), (0...bits).contains(given) else {
                    throw ListServiceError(code: .configuration, message: "LISTCTL_TRUSTED_PROXIES: \"\(entry)\": the prefix length must be 0 to \(bits)")
                }
                bits = given
            }
            ranges.append((bytes, bits))
        }
        self.ranges = ranges
    }

    /// Reads `LISTCTL_TRUSTED_PROXIES`; unset or empty: no proxy is trusted.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> TrustedProxies {
        try TrustedProxies(parsing: environment["LISTCTL_TRUSTED_PROXIES"] ?? "")
    }

    public var isEmpty: Bool { ranges.isEmpty }

    func contains(_ address: String) -> Bool {
        guard let bytes = Self.bytes(of: address) else { return false }
        return ranges.contains { range in
            guard range.bytes.count == bytes.count else { return false }
            let whole = range.bits / 8, rest = range.bits % 8
            if bytes[..<whole] != range.bytes[..<whole] { return false }
            if rest == 0 { return true }
            let mask = UInt8(0xFF) << (8 - rest)
            return bytes[whole] & mask == range.bytes[whole] & mask
        }
    }

    /// The 4 or 16 bytes of an IPv4 or IPv6 address (an IPv4-mapped IPv6 address as IPv4), nil for anything else.
    static func bytes(of text: String) -> [UInt8]? {
        var address = text.trimmingCharacters(in: .whitespaces)
        if address.hasPrefix("["), address.hasSuffix("]") { address = String(address.dropFirst().dropLast()) }
        var v4 = in_addr()
        if inet_pton(AF_INET, address, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, address, &v6) == 1 {
            let bytes = withUnsafeBytes(of: &v6) { Array($0) }
            if bytes[..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF { return Array(bytes[12...]) }
            return bytes
        }
        return nil
    }
}

enum ClientAddress {
    /// The client's address: the peer's, or, when the peer is a trusted proxy, the right-most
    /// `X-Forwarded-For` entry that is not a trusted proxy. `viaProxy` says whether a proxy passed it on.
    static func resolve(peer: String?, forwardedFor: String?, trusted: TrustedProxies) -> (address: String?, viaProxy: Bool) {
        guard let peer, trusted.contains(peer) else { return (peer, false) }
        guard let forwardedFor else { return (peer, true) }
        let hops = forwardedFor.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        for hop in hops.reversed() where !trusted.contains(hop) {
            return (TrustedProxies.bytes(of: hop) != nil ? hop : peer, true)
        }
        return (hops.first ?? peer, true)
    }
}
