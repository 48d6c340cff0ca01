import HTTPTypes
import Foundation

extension HTTPField.Name {
    static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
    static let forwarded = HTTPField.Name("Forwarded")!
}

/// The bodies the service reads: HTML forms (`application/x-www-form-urlencoded`),
/// small JSON objects, and RFC 8058's one-click POST.
enum FormBody {
    /// Every `name=value` of a form body, in order, decoded (`+` is a space).
    static func pairs(_ body: [UInt8]) -> [(String, String)] {
        String(decoding: body, as: UTF8.self).split(separator: "&").compactMap { field in
            let pieces = field.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map {
                String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
            }
            guard let name = pieces.first ?? nil else { return nil }
            return (name, pieces.count > 1 ? (pieces[1] ?? "") : "")
        }
    }

    /// The fields of a form, or of a JSON object of strings; the first of a repeated name wins.
    /// nil when a JSON body is not such an object.
    static func fields(_ body: [UInt8], json: Bool) -> [String: String]? {
        if json {
            guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else { return nil }
            var fields: [String: String] = [:]
            for (key, value) in object {
                guard let text = value as? String else { return nil }
                fields[key] = text
            }
            return fields
        }
        var fields: [String: String] = [:]
        for (name, value) in pairs(body) where fields[name] == nil { fields[name] = value }
        return fields
    }

    /// RFC 8058: the body is `List-Unsubscribe=One-Click`, form-urlencoded or as a multipart/form-data field.
    static func isOneClick(body: String, contentType: String?) -> Bool {
        let type = contentType?.lowercased() ?? ""
        if type.hasPrefix("multipart/form-data") {
            // A part named List-Unsubscribe whose value is One-Click.
            let normalized = body.replacingOccurrences(of: "\r\n", with: "\n")
            for part in normalized.components(separatedBy: "\n--") {
                let pieces = part.components(separatedBy: "\n\n")
                guard pieces.count >= 2, pieces[0].lowercased().contains("name=\"list-unsubscribe\"") else { continue }
                if pieces[1].trimmingCharacters(in: .whitespacesAndNewlines) == "One-Click" { return true }
            }
            return false
        }
        return pairs(Array(body.utf8)).contains { $0 == ("List-Unsubscribe", "One-Click") }
    }
}
