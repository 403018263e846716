namespace BottleneckPipeline.Evaluate.Escaping;

/// <summary>
/// One field of a CSV the pipeline writes. A spreadsheet opening the file runs a cell that begins
/// with =, +, -, @, tab or CR as a formula (which may start a program), and a class folder or file
/// name may begin so: such a field gets a leading single quote, as OWASP's advice on CSV injection
/// says, and shows as text. A field holding a comma, quote or line break is then quoted as RFC 4180
/// asks, and so is one holding a semicolon or tab, the separators some locales' spreadsheets split
/// on, so that no part of a field can begin a cell of its own. The JSON output keeps names exact.
/// </summary>
internal static class CsvCell
{
    /// <summary>The field as written: neutralised, then quoted where needed.</summary>
    public static string Of(string field)
    {
        if (field.Length > 0 && field[0] is '=' or '+' or '-' or '@' or '\t' or '\r') field = "'" + field;
        return field.AsSpan().IndexOfAny(",\"\r\n;\t") < 0 ? field : "\"" + field.Replace("\"", "\"\"") + "\"";
    }
}
