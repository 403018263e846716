using System.Security.Cryptography;
using System.Text;
using BottleneckPipeline.Index;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Cache;

/// <summary>
/// A file naming images to leave out of training and scoring (what the data doctor's findings lead to): one entry a
/// line, either a path relative to dataset.root ('/' separators, as reports/dataset_issues.json writes them) or a
/// content id (the 64 hex digits of the image's SHA-256); blank lines and lines starting with '#' are ignored, and so
/// is anything after " #" on a line. A path names the content that file holds in the index, so every copy of those
/// bytes is left out; nothing is re-extracted, as vectors are keyed by content. The config's dataset.exclude names it;
/// <see cref="ExcludedImages"/> is what the stages make of it.
/// </summary>
public sealed class ExcludeList
{
    public static readonly ExcludeList None = new([], [], new Dictionary<string, int>());

    private readonly IReadOnlyDictionary<string, int> _lines;

    private ExcludeList(IReadOnlyList<string> paths, IReadOnlyList<string> contentIds, IReadOnlyDictionary<string, int> lines)
    {
        Paths = paths;
        ContentIds = contentIds;
        _lines = lines;
    }

    /// <summary>The line (from 1) an entry first stands on, for a message that points at it; 0 for an entry not in the list.</summary>
    public int LineOf(string entry) => _lines.TryGetValue(entry, out var line) ? line : 0;

    /// <summary>The path entries, in file order.</summary>
    public IReadOnlyList<string> Paths { get; }

    /// <summary>The content id entries (lowercase), in file order.</summary>
    public IReadOnlyList<string> ContentIds { get; }

    public int Count => Paths.Count + ContentIds.Count;

    /// <summary>A hash of the entries, whatever their order or repetition: what a stage's inputs hash takes in.</summary>
    public string Hash => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(
        string.Join('\n', Paths.Select(p => "path:" + p).Concat(ContentIds.Select(c => "id:" + c)).Distinct().Order(StringComparer.Ordinal)))))[..16];

    public static ExcludeList Read(string file)
    {
        string text;
        try { text = File.ReadAllText(file); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InputException($"the exclude list {file} cannot be read ({e.Message}). Fix the path, or remove the key.", e);
        }
        return Parse(text);
    }

    public static ExcludeList Parse(string text)
    {
        var paths = new List<string>();
        var ids = new List<string>();
        var lines = new Dictionary<string, int>(StringComparer.Ordinal);
        var number = 0;
        foreach (var raw in text.Split('\n'))
        {
            number++;
            var line = raw.Trim();
            var comment = line.IndexOf(" #", StringComparison.Ordinal);
            if (comment >= 0) line = line[..comment].TrimEnd();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var entry = IsContentId(line) ? line.ToLowerInvariant() : line.Replace('\\', '/').TrimStart('.', '/');
            (IsContentId(line) ? ids : paths).Add(entry);
            lines.TryAdd(entry, number);
        }
        return new ExcludeList(paths, ids, lines);
    }

    private static bool IsContentId(string line) => line.Length == 64 && line.All(Uri.IsHexDigit);

    /// <summary>
    /// The line that names an image in such a file: its path, where the parser reads the path back as it is, else its
    /// content id (a path with " #" in it, a line break, spaces at an end, a leading '#', '.' or '/', or 64 hex digits).
    /// </summary>
    public static string LineFor(string relPath, string contentId)
    {
        var read = relPath.Contains('\n') || relPath.Contains('\r') ? null : Parse(relPath);
        return read is { Paths: [var p], ContentIds: [] } && p == relPath ? relPath : contentId;
    }

    /// <summary>The content ids to leave out: the listed ids and the contents of the listed paths in the index; and the
    /// entries the index does not know (a path no file has, an id no example has), for a warning.</summary>
    public (HashSet<string> ContentIds, IReadOnlyList<string> Unknown) Resolve(IndexDb db)
    {
        var excluded = new HashSet<string>(StringComparer.Ordinal);
        var unknown = new List<string>();
        foreach (var path in Paths)
        {
            using var cmd = db.Command("SELECT content_id FROM files WHERE rel_path = $p UNION SELECT content_id FROM examples WHERE rel_path = $p;");
            cmd.Parameters.AddWithValue("$p", path);
            using var r = cmd.ExecuteReader();
            var found = false;
            while (r.Read())
            {
                excluded.Add(r.GetString(0));
                found = true;
            }
            if (!found) unknown.Add(path);
        }
        foreach (var id in ContentIds)
        {
            using var cmd = db.Command("SELECT COUNT(*) FROM examples WHERE content_id = $id;");
            cmd.Parameters.AddWithValue("$id", id);
            if (Convert.ToInt64(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) == 0) unknown.Add(id);
            excluded.Add(id);
        }
        return (excluded, unknown);
    }
}
