using System.Globalization;
using System.Text;

namespace BottleneckPipeline.Runtime;

/// <summary>
/// File and folder names as a console line shows them. A name is the user's data, and a file name
/// may hold any byte but '/' and NUL: ESC sequences printed raw clear the screen, move the cursor or
/// set the terminal's title, and a newline forges a line of its own. Every stage prints names through
/// here (StageHost's error lines too): each control character as \xNN, and the invisible characters
/// that reorder or break a line (bidirectional overrides, line separators) as \uNNNN; the rest as is.
/// Escaping is idempotent (what it writes holds no control character), so a name escaped once may
/// pass through here again in a whole line unchanged.
/// </summary>
public static class Printable
{
    /// <summary>A name or path for a console line: every control character escaped, newlines included.</summary>
    public static string Name(string name) => Escape(name, keepNewlines: false);

    /// <summary>A whole line that may hold names: as <see cref="Name"/>.</summary>
    public static string Line(string line) => Escape(line, keepNewlines: false);

    /// <summary>Writes one console line to standard output, escaped as <see cref="Line"/>: how a stage prints its lines.</summary>
    public static void WriteLine(string line) => Console.WriteLine(Line(line));

    /// <summary>A message of one or more lines (an error, a config error's list): escaped as <see cref="Name"/>, but its line breaks kept.</summary>
    public static string Text(string text) => Escape(text, keepNewlines: true);

    /// <summary>
    /// A name from the file system's own bytes (on Linux a name is bytes, not necessarily UTF-8):
    /// valid UTF-8 shown as text (escaped as <see cref="Name"/>), every byte that is not part of a
    /// valid UTF-8 sequence as \xNN. Two names .NET decodes to the same text (both with U+FFFD in
    /// place of their bad bytes) stay told apart.
    /// </summary>
    public static string Bytes(ReadOnlySpan<byte> name)
    {
        var sb = new StringBuilder(name.Length + 8);
        while (!name.IsEmpty)
        {
            if (Rune.DecodeFromUtf8(name, out var rune, out var consumed) == System.Buffers.OperationStatus.Done)
            {
                Append(sb, rune, keepNewlines: false);
                name = name[consumed..];
            }
            else
            {
                sb.Append(CultureInfo.InvariantCulture, $"\\x{name[0]:x2}");
                name = name[1..];
            }
        }
        return sb.ToString();
    }

    private static string Escape(string text, bool keepNewlines)
    {
        var clean = true;
        foreach (var c in text)
            if (char.IsControl(c) || char.IsSurrogate(c) || IsFormatting(c)) { clean = false; break; }
        if (clean) return text;

        var sb = new StringBuilder(text.Length + 16);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                sb.Append(c).Append(text[++i]); // a character outside the BMP (an emoji): printable
                continue;
            }
            if (char.IsSurrogate(c)) { sb.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}"); continue; }
            Append(sb, new Rune(c), keepNewlines);
        }
        return sb.ToString();
    }

    private static void Append(StringBuilder sb, Rune rune, bool keepNewlines)
    {
        if (keepNewlines && rune.Value == '\n') sb.Append('\n');
        else if (rune.Value < 0x100 && Rune.IsControl(rune)) sb.Append(CultureInfo.InvariantCulture, $"\\x{rune.Value:x2}");
        else if (rune.IsBmp && IsFormatting((char)rune.Value)) sb.Append(CultureInfo.InvariantCulture, $"\\u{rune.Value:x4}");
        else sb.Append(rune.ToString());
    }

    /// <summary>Invisible characters that change how a terminal lays a line out: line and paragraph
    /// separators, and the bidirectional marks, embeddings, overrides and isolates ("Trojan Source").</summary>
    private static bool IsFormatting(char c) =>
        c is '\u2028' or '\u2029' or '\u200E' or '\u200F' or '\u061C' || c is >= '\u202A' and <= '\u202E' || c is >= '\u2066' and <= '\u2069';
}
