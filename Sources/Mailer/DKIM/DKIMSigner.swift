import Foundation

/// Signs whole RFC 5322 messages with DKIM (RFC 6376; Ed25519 per RFC 8463),
/// relaxed/relaxed canonicalisation.
///
/// Each message is signed on its own (bodies are personalised), but the key
/// is parsed and the list of headers to sign is prepared once, here.
public struct DKIMSigner: Sendable {
    /// The headers signed when present, in this order. RFC 8058 requires
    /// `List-Unsubscribe` and `List-Unsubscribe-Post` to be covered.
    public static let defaultHeaders = [
        "From", "To", "Subject", "Date", "Message-ID", "List-Id", "List-Archive", "List-Unsubscribe",
        "List-Unsubscribe-Post", "MIME-Version", "Content-Type",
    ]

    /// The signing domain, `d=`.
    public let domain: String
    /// The selector, `s=`; the key record lives at `S._domainkey.D`.
    public let selector: String
    public let key: DKIMKey
    private let signedNames: [String]
    private let fixedTags: [String]

    /// - Parameters:
    ///   - headers: header names to sign when present (case-insensitive).
    public init(domain: String, selector: String, key: DKIMKey, headers: [String] = DKIMSigner.defaultHeaders) {
        self.domain = domain
        self.selector = selector
        self.key = key
        var seen = Set<String>()
        signedNames = headers.map { $0.lowercased() }.filter { seen.insert($0).inserted }
        fixedTags = ["v=1;", "a=\(key.algorithm.rawValue);", "c=relaxed/relaxed;", "d=\(domain);", "s=\(selector);"]
    }

    /// The header names this signer signs when present, lower-cased, in order.
    public var signedHeaders: [String] { signedNames }

    /// The same key and domain, no longer signing `names` (case-insensitive):
    /// for a relay that rewrites those fields, which would break the
    /// signature (Amazon SES replaces Message-ID and Date).
    public func withoutSigning(_ names: [String]) -> DKIMSigner {
        let drop = Set(names.map { $0.lowercased() })
        return DKIMSigner(domain: domain, selector: selector, key: key, headers: signedNames.filter { !drop.contains($0) })
    }

    /// Reads `LISTCTL_DKIM_DOMAIN`, `LISTCTL_DKIM_SELECTOR` and
    /// `LISTCTL_DKIM_KEY_FILE`. Returns nil when none is set (signing off).
    /// - Throws: `DKIMError.Code.configuration` when only some are set, or a key error.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws(DKIMError) -> DKIMSigner? {
        let names = ["LISTCTL_DKIM_DOMAIN", "LISTCTL_DKIM_SELECTOR", "LISTCTL_DKIM_KEY_FILE"]
        let values = names.map { environment[$0].flatMap { $0.isEmpty ? nil : $0 } }
        if values.allSatisfy({ $0 == nil }) { return nil }
        let missing = zip(names, values).filter { $0.1 == nil }.map(\.0)
        guard missing.isEmpty else {
            throw DKIMError(
                code: .configuration,
                message: "\(missing.joined(separator: " and ")) not set; DKIM signing needs all of \(names.joined(separator: ", ")) (or none to sign nothing)")
        }
        let key = try DKIMKey(contentsOfFile: values[2]!)
        if key.algorithm == .rsaSHA256 && key.bits < 1024 {
            // RFC 8301: verifiers must not accept signatures from RSA keys under 1024 bits.
            throw DKIMError(
                code: .unsupportedKey,
                message: "\(values[2]!) is a \(key.bits)-bit RSA key; receivers ignore signatures under 1024 bits (RFC 8301). Make a new one: listctl dkim keygen")
        }
        return DKIMSigner(domain: values[0]!, selector: values[1]!, key: key)
    }

    /// Returns `message` with a `DKIM-Signature` header field prepended.
    /// - Throws: `DKIMError.Code.malformedMessage` when there is no `From:` field, or a signing error.
    public func sign(_ message: [UInt8], time: Date = Date()) throws(DKIMError) -> [UInt8] {
        let header = try signatureHeader(for: message, time: time)
        var out: [UInt8] = []
        out.reserveCapacity(header.utf8.count + message.count)
        out.append(contentsOf: header.utf8)
        out.append(contentsOf: message)
        return out
    }

    /// The `DKIM-Signature: ...` field for `message`, folded, ending in CRLF.
    public func signatureHeader(for message: [UInt8], time: Date = Date()) throws(DKIMError) -> String {
        try message.withUnsafeBufferPointer { bytes throws(DKIMError) -> String in
            try signatureHeader(bytes, time: time)
        }
    }

    private func signatureHeader(_ bytes: UnsafeBufferPointer<UInt8>, time: Date) throws(DKIMError) -> String {
        let (fields, bodyStart) = DKIMCanonicalization.parseHeaders(bytes)
        guard fields.contains(where: { $0.lowercasedName == "from" }) else {
            throw DKIMError(code: .malformedMessage, message: "the message has no From: header field to sign")
        }

        // Body hash.
        var body: [UInt8] = []
        DKIMCanonicalization.relaxedBody(UnsafeBufferPointer(rebasing: bytes[bodyStart...]), into: &body)
        let bodyHash = Data(LibCrypto.sha256(body)).base64EncodedString()

        // Headers, each occurrence picked from the bottom up (RFC 6376 §5.4.2).
        var toSign: [UInt8] = []
        toSign.reserveCapacity(2048)
        var names: [String] = []
        for name in signedNames {
            for field in fields.reversed() where field.lowercasedName == name {
                names.append(name)
                DKIMCanonicalization.appendRelaxedHeader(bytes, field: field, to: &toSign)
            }
        }

        // The signature field itself, folded, with an empty b= (§3.7).
        var folder = HeaderFolder(start: "DKIM-Signature: ")
        for (index, tag) in fixedTags.enumerated() { folder.add(tag, separator: index == 0 ? "" : " ") }
        folder.add("t=\(Int(time.timeIntervalSince1970));", separator: " ")
        for (index, name) in names.enumerated() {
            let piece = (index == 0 ? "h=" : "") + name + (index == names.count - 1 ? ";" : ":")
            folder.add(piece, separator: index == 0 ? " " : "")
        }
        folder.add("bh=\(bodyHash);", separator: " ")
        folder.add("b=", separator: " ")
        let unsigned = folder.text
        Array(unsigned.utf8).withUnsafeBufferPointer { raw in
            let field = DKIMCanonicalization.HeaderField(lowercasedName: "dkim-signature", range: 0..<raw.count)
            DKIMCanonicalization.appendRelaxedHeader(raw, field: field, to: &toSign)
        }
        // The signed form of the DKIM-Signature field has no trailing CRLF.
        toSign.removeLast(2)

        let signature = Data(try key.handle.sign(toSign)).base64EncodedString()
        folder.addBreakable(signature)
        return folder.text + "\r\n"
    }
}

/// Folds a structured header field at about 78 characters a line.
struct HeaderFolder {
    private(set) var text: String
    private var lineLength: Int
    static let width = 76

    init(start: String) {
        text = start
        lineLength = start.count
    }

    /// Adds an unbreakable piece, after `separator` on the same line or at the
    /// start of a new folded line.
    mutating func add(_ piece: String, separator: String) {
        if lineLength + separator.count + piece.count > Self.width && lineLength > 1 {
            text += "\r\n\t" + piece
            lineLength = 1 + piece.count
        } else {
            text += separator + piece
            lineLength += separator.count + piece.count
        }
    }

    /// Adds a value that may be broken anywhere (base64, where FWS is allowed).
    mutating func addBreakable(_ value: String) {
        var rest = Substring(value)
        while !rest.isEmpty {
            let room = Self.width - lineLength
            if room <= 0 {
                text += "\r\n\t"
                lineLength = 1
                continue
            }
            let chunk = rest.prefix(room)
            text += chunk
            lineLength += chunk.count
            rest = rest.dropFirst(chunk.count)
        }
    }
}
