/// Byte-level HTML escaping, fast enough for megabytes of text.
public enum HTMLEscaping {
    private static let amp: [UInt8] = Array("&amp;".utf8)
    private static let lt: [UInt8] = Array("&lt;".utf8)
    private static let gt: [UInt8] = Array("&gt;".utf8)
    private static let quot: [UInt8] = Array("&quot;".utf8)

    /// Escapes `&`, `<`, `>` and `"`: safe in text and in double-quoted attributes.
    static func append<C: Collection>(_ bytes: C, to out: inout [UInt8]) where C.Element == UInt8 {
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "&"): out.append(contentsOf: amp)
            case UInt8(ascii: "<"): out.append(contentsOf: lt)
            case UInt8(ascii: ">"): out.append(contentsOf: gt)
            case UInt8(ascii: "\""): out.append(contentsOf: quot)
            default: out.append(byte)
            }
        }
    }

    /// `string` with `&`, `<`, `>` and `"` escaped: safe in text and in double-quoted attributes.
    public static func escape(_ string: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(string.utf8.count)
        append(string.utf8, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Writes a URL for an `href` or `src` attribute: percent-encodes what a
    /// URL may not contain, escapes `&`, and drops the schemes that run code
    /// (`javascript:`, `vbscript:`, `file:`, and `data:` other than images).
    static func appendURL(_ url: ArraySlice<UInt8>, to out: inout [UInt8]) {
        guard isSafe(url) else { return }
        let hex = Array("0123456789ABCDEF".utf8)
        for byte in url {
            switch byte {
            case UInt8(ascii: "&"): out.append(contentsOf: amp)
            case 0x21, 0x23...0x3B, 0x3D, 0x3F...0x5B, 0x5D, 0x5F, 0x61...0x7A, 0x7E:
                out.append(byte)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 15)])
            }
        }
    }

    static func isSafe(_ url: ArraySlice<UInt8>) -> Bool {
        var scheme: [UInt8] = []
        for byte in url.prefix(12) {
            if byte == UInt8(ascii: ":") { break }
            scheme.append(byte | 0x20)
        }
        switch String(decoding: scheme, as: UTF8.self) {
        case "javascript", "vbscript", "file":
            return false
        case "data":
            let lower = url.prefix(16).map { $0 | 0x20 }
            return ["data:image/png", "data:image/gif", "data:image/jpeg", "data:image/webp"].contains {
                lower.starts(with: Array($0.utf8))
            }
        default:
            return true
        }
    }
}
