extension EmailTemplate {
    /// The built-in template: a centred 600-pixel table, inline styles only,
    /// hidden preheader, optional "view in browser" link, part navigation at
    /// top and bottom, and a footer with the list's name, postal address, a
    /// visible unsubscribe link and a "Manage your subscription" link to the
    /// preference page. The preheader is padded with invisible
    /// characters so inboxes do not pull body text into the preview line.
    /// It is hidden by layout alone (`display:none`, zero size, `opacity:0`,
    /// `mso-hide:all` for Outlook), never by a text colour like the
    /// background's, which SpamAssassin scores as HTML_FONT_LOW_CONTRAST
    /// (docs/MAILER.md, "The hidden preheader"). Copy it to start a template of your own
    /// (`listctl preview --print-template` prints it).
    public static let defaultSource = #"""
<!DOCTYPE html>
<html lang="en">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="x-apple-disable-message-reformatting">
<meta name="color-scheme" content="light">
<meta name="supported-color-schemes" content="light">
<title>{{subject}}</title>
</head>
<body style="margin:0;padding:0;background-color:#f4f4f4;">
{{#has_preheader}}
<div style="display:none;font-size:1px;line-height:1px;max-height:0;max-width:0;opacity:0;overflow:hidden;mso-hide:all;">{{preheader}}&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;</div>
{{/has_preheader}}
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background-color:#f4f4f4;">
<tr>
<td align="center" style="padding:24px 8px;">
<table role="presentation" width="600" cellpadding="0" cellspacing="0" border="0" style="width:100%;max-width:600px;background-color:#ffffff;">
{{#has_view_in_browser}}
<tr>
<td style="padding:12px 32px 0 32px;font-family:Helvetica,Arial,sans-serif;font-size:12px;line-height:18px;color:#888888;text-align:right;"><a href="{{view_in_browser_url}}" style="color:#888888;text-decoration:underline;">View in browser</a></td>
</tr>
{{/has_view_in_browser}}
{{#is_split}}
<tr>
<td style="padding:12px 32px 0 32px;font-family:Helvetica,Arial,sans-serif;font-size:13px;line-height:18px;color:#666666;">{{list_name}} &middot; Part {{part_number}} of {{part_total}}</td>
</tr>
{{/is_split}}
<tr>
<td style="padding:16px 32px 8px 32px;font-family:Georgia,'Times New Roman',serif;font-size:17px;line-height:27px;color:#222222;">
{{{content}}}
</td>
</tr>
{{#is_split}}
<tr>
<td style="padding:0 32px 16px 32px;font-family:Helvetica,Arial,sans-serif;font-size:13px;line-height:18px;color:#666666;">Part {{part_number}} of {{part_total}}{{#has_next}} &middot; continued in the next email{{/has_next}}</td>
</tr>
{{/is_split}}
<tr>
<td style="padding:16px 32px 24px 32px;border-top:1px solid #eeeeee;font-family:Helvetica,Arial,sans-serif;font-size:12px;line-height:18px;color:#888888;">
<p style="margin:0 0 8px 0;">{{list_name}}{{#has_postal_address}} &middot; {{postal_address}}{{/has_postal_address}}</p>
<p style="margin:0;">You receive this because {{email}} subscribed. <a href="{{unsubscribe_url}}" style="color:#888888;text-decoration:underline;">Unsubscribe</a> &middot; <a href="{{preferences_url}}" style="color:#888888;text-decoration:underline;">Manage your subscription</a></p>
</td>
</tr>
</table>
</td>
</tr>
</table>
</body>
</html>

"""#
}
