// Mailer: Markdown rendering, splitting, MIME, DKIM and transports.
public enum MailerModule {}
