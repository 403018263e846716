using System.Text;

namespace BottleneckPipeline.Tests.Names;

/// <summary>
/// An RFC 4180 reader that refuses what the RFC does: a quote, CR or LF in a field that is not quoted,
/// or text after a closing quote. Records end with LF (the pipeline's line ending) or CRLF.
/// </summary>
public static class StrictCsv
{
    public static List<List<string>> Parse(string text)
    {
        var records = new List<List<string>>();
        var record = new List<string>();
        var field = new StringBuilder();
        var i = 0;
        while (i < text.Length)
        {
            if (text[i] == '"')
            {
                for (i++; ; i++)
                {
                    if (i >= text.Length) throw new FormatException($"record {records.Count + 1}: a quoted field is never closed");
                    if (text[i] != '"') field.Append(text[i]);
                    else if (i + 1 < text.Length && text[i + 1] == '"') field.Append(text[++i]);
                    else break;
                }
                i++;
                if (i < text.Length && text[i] is not (',' or '\n' or '\r'))
                    throw new FormatException($"record {records.Count + 1}: '{text[i]}' after a closing quote");
            }
            else
            {
                for (; i < text.Length && text[i] is not (',' or '\n'); i++)
                {
                    if (text[i] == '\r' && i + 1 < text.Length && text[i + 1] == '\n') break;
                    if (text[i] is '"' or '\r')
                        throw new FormatException($"record {records.Count + 1}: a {(text[i] == '"' ? "quote" : "CR")} in a field that is not quoted: {field}");
                    field.Append(text[i]);
                }
            }
            record.Add(field.ToString());
            field.Clear();
            if (i >= text.Length) break;
            if (text[i] == ',') { i++; if (i == text.Length) record.Add(""); continue; }
            i += text[i] == '\r' ? 2 : 1;
            records.Add(record);
            record = [];
        }
        if (record.Count > 0) records.Add(record);
        return records;
    }
}
