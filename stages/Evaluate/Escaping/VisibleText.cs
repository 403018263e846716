using System.Globalization;
using System.Text;

namespace BottleneckPipeline.Evaluate.Escaping;

/// <summary>
/// A name (or text that holds one) as a report shows it to a person. A file name may hold any
/// character but '/' and NUL: a line break breaks a table row, an ESC sequence is no text at all, and
/// a bidirectional override (U+202E) turns the text after it backwards ("x\u202Egnp.jpg" reads as
/// "xgpj.png"). Each control character is shown as \xNN and each invisible character that reorders or
/// breaks a line (bidirectional marks, embeddings, overrides and isolates; line and paragraph
/// separators) as \uNNNN, the notation the console uses; everything else is kept as it is.
/// </summary>
internal static class VisibleText
{
    /// <summary>The text with every such character made visible, its line breaks included.</summary>
    public static string Of(string text) => Escape(text, keepNewlines: false);

    /// <summary>As <see cref="Of"/>, but line breaks kept as they are: for text of several lines (a config section).</summary>
    public static string Lines(string text) => Escape(text, keepNewlines: true);

    private static string Escape(string text, bool keepNewlines)
    {
        if (!text.AsSpan().ContainsAny(Hidden)) return text;
        var sb = new StringBuilder(text.Length + 16);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) sb.Append(c).Append(text[++i]);
            else if (keepNewlines && c == '\n' || !Hidden.Contains(c)) sb.Append(c);
            else if (char.IsControl(c)) sb.Append(CultureInfo.InvariantCulture, $"\\x{(int)c:x2}");
            else sb.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
        }
        return sb.ToString();
    }

    /// <summary>Control characters (C0, DEL, C1), the bidirectional controls, the line and paragraph separators, and lone surrogates.</summary>
    private static readonly System.Buffers.SearchValues<char> Hidden = System.Buffers.SearchValues.Create(
        string.Concat(Enumerable.Range(0, 0x10000).Select(i => (char)i).Where(c =>
            char.IsControl(c) || char.IsSurrogate(c) || c is '\u061C' or '\u200E' or '\u200F' or '\u2028' or '\u2029'
            || c is >= '\u202A' and <= '\u202E' || c is >= '\u2066' and <= '\u2069')));
}
