using System.IO.Enumeration;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Index;

/// <summary>A file found under a class folder, with what the directory listing says about it.</summary>
/// <param name="RelPath">Path relative to dataset.root with '/' separators; its first segment is the class.</param>
/// <param name="MtimeNs">Last write time in nanoseconds since the Unix epoch (100 ns resolution).</param>
public sealed record ScannedFile(string RelPath, string Class, long Size, long MtimeNs);

/// <summary>What a walk of dataset.root found: class folders, candidate files, and what it passed over.</summary>
public sealed class ScanResult
{
    /// <summary>Every non-hidden immediate subfolder of the root, in ordinal order.</summary>
    public List<string> ClassFolders { get; } = [];
    public List<ScannedFile> Files { get; } = [];
    /// <summary>Hidden files and folders (leading '.') passed over.</summary>
    public int Hidden { get; set; }
    /// <summary>Files and folder links refused by the walk (broken links, links that loop or lead into another class), with a reason.</summary>
    public List<(string RelPath, string Reason)> Rejects { get; } = [];
    public List<string> Warnings { get; } = [];
}

/// <summary>
/// Walks dataset.root: each immediate subfolder is a class, and files are found recursively inside it.
/// Symbolic links are followed, except a folder link that loops (to the class folder, the dataset
/// root or any other folder holding the link) or leads into another class's folder: following it
/// once would file every other class's images under this one too, where as label conflicts they
/// would all drop out of training. Such a link is rejected with its reason. A folder is entered at
/// most once per class (tracked by its real path). Only the listing is read here; files are opened
/// later, and only when they are new or changed.
/// </summary>
public static class DatasetScanner
{
    public static ScanResult Scan(string root)
    {
        if (!Directory.Exists(root))
            throw new InputException($"dataset.root {root} does not exist or is not a folder. " +
                                     "Set dataset.root in the config to a folder with one subfolder of images per class.");
        var result = new ScanResult();
        var linked = new HashSet<string>(StringComparer.Ordinal);
        var (rootEntries, undecodable) = List(root);
        // A class whose name cannot be read is not dropped: the model would lose the class without a word.
        if (undecodable.Where(u => u.IsDirectory && !u.IsHidden).Select(u => Printable.Bytes(u.Name)).ToList() is { Count: > 0 } badClasses)
            throw new InputException(
                $"class folder {string.Join(", ", badClasses)} under dataset.root {root}: {(badClasses.Count == 1 ? "its name is" : "their names are")} " +
                "not valid UTF-8 (each bad byte shown as \\xNN), so its images cannot be opened by name, nor the name be a label; " +
                "Ingest stops rather than train without the class. " +
                $"Rename it to a UTF-8 name (for example: mv $'{Path.Join(root, badClasses[0])}' {Path.Join(root, "new_name")}) and run Ingest again.");
        foreach (var (name, isDir, isLink, _, _) in rootEntries)
        {
            if (!isDir) continue; // files at the root (a LICENSE, say) belong to no class
            if (name.StartsWith('.')) { result.Hidden++; continue; }
            result.ClassFolders.Add(name);
            if (isLink) linked.Add(name);
        }
        if (result.ClassFolders.Count == 0)
            throw new InputException($"dataset.root {root} has no class folders. Put the images of each class in their own subfolder " +
                                     $"(for example {Path.Combine(root, "cats")}/ and {Path.Combine(root, "dogs")}/).");
        result.ClassFolders.Sort(StringComparer.Ordinal);
        var classReals = ResolveClasses(root, linked, result);
        foreach (var cls in result.ClassFolders) WalkClass(root, cls, classReals, result);
        return result;
    }

    /// <summary>
    /// Each class folder's real path. A class folder that is a link to the dataset root (or above
    /// it), or to the same folder as another class (or into or around one), is rejected and left out
    /// of the classes; real folders go first, so a link never displaces one.
    /// </summary>
    private static Dictionary<string, string> ResolveClasses(string root, HashSet<string> linked, ScanResult result)
    {
        var rootReal = RealPath.Of(root) ?? Path.GetFullPath(root);
        var reals = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var cls in result.ClassFolders.OrderBy(linked.Contains).ToList()) // stable: ordinal within each kind
        {
            var real = RealPath.Of(Path.Join(root, cls));
            string? problem = null;
            if (real is null) result.Warnings.Add($"class folder {cls} cannot be resolved (broken link?); it is left out");
            else if (RealPath.IsSameOrInside(rootReal, real))
                problem = $"folder link loop: it leads to {real}, which holds the dataset root; not followed (remove the link)";
            else if (reals.FirstOrDefault(kv => RealPath.IsSameOrInside(real, kv.Value) || RealPath.IsSameOrInside(kv.Value, real)).Key is { } other)
                problem = $"folder link to class {other}'s folder ({real}): its images would be filed under both classes; not followed (remove the link)";
            else reals[cls] = real;
            if (problem is not null) result.Rejects.Add((cls, problem));
        }
        result.ClassFolders.RemoveAll(c => !reals.ContainsKey(c));
        return reals;
    }

    private static void WalkClass(string root, string cls, Dictionary<string, string> classReals, ScanResult result)
    {
        var classReal = classReals[cls];
        var visited = new HashSet<string>(StringComparer.Ordinal) { classReal };
        var pending = new Stack<(string Rel, string Real)>();
        pending.Push((cls, classReal));
        while (pending.TryPop(out var dir))
        {
            var dirFull = Path.Join(root, dir.Rel);
            List<Entry> entries;
            List<RawDirectory.Entry> undecodable;
            try { (entries, undecodable) = List(dirFull); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                result.Warnings.Add($"folder {dir.Rel} cannot be listed ({e.Message}); its files are left out");
                continue;
            }
            foreach (var u in undecodable)
            {
                if (u.IsHidden) { result.Hidden++; continue; }
                var rel = dir.Rel + "/" + Printable.Bytes(u.Name);
                var rename = $"rename it to a UTF-8 name (for example: mv $'{Path.Join(root, rel)}' NEW_NAME) and run Ingest again";
                result.Rejects.Add((rel, u.IsDirectory
                    ? $"unreadable: the folder's name is not valid UTF-8 (each bad byte shown as \\xNN), so none of its files can be opened: {rename}"
                    : $"unreadable: its name is not valid UTF-8 (each bad byte shown as \\xNN), so it cannot be opened by name: {rename}"));
            }
            foreach (var e in entries)
            {
                if (e.Name.StartsWith('.')) { result.Hidden++; continue; }
                var rel = dir.Rel + "/" + e.Name;
                var full = Path.Join(root, rel);
                if (e.IsDirectory)
                {
                    var real = e.IsLink ? RealPath.Of(full) : dir.Real + "/" + e.Name;
                    if (real is null) result.Rejects.Add((rel, "unreadable: folder link cannot be resolved"));
                    else if (LinkProblem(real, dir.Real, cls, classReals) is { } problem) result.Rejects.Add((rel, problem));
                    else if (visited.Add(real)) pending.Push((rel, real));
                    else result.Warnings.Add($"{rel} links back to a folder already scanned ({real}); not followed again");
                }
                else if (e.IsLink)
                {
                    AddLinkedFile(full, rel, cls, result);
                }
                else
                {
                    result.Files.Add(new ScannedFile(rel, cls, e.Size, e.MtimeNs));
                }
            }
        }
    }

    /// <summary>A link to a file stands for its target: size and time come from the target.</summary>
    private static void AddLinkedFile(string full, string rel, string cls, ScanResult result)
    {
        try
        {
            var target = File.ResolveLinkTarget(full, returnFinalTarget: true);
            if (target is FileInfo { Exists: true } file)
                result.Files.Add(new ScannedFile(rel, cls, file.Length, ToUnixNs(file.LastWriteTimeUtc)));
            else
                result.Rejects.Add((rel, "unreadable: broken symbolic link (its target does not exist)"));
        }
        catch (IOException e)
        {
            result.Rejects.Add((rel, $"unreadable: symbolic link cannot be resolved ({e.Message})"));
        }
    }

    /// <summary>Why a folder (reached at <paramref name="real"/> from the folder <paramref name="parentReal"/> of class
    /// <paramref name="cls"/>) must not be walked, or null when it may.</summary>
    private static string? LinkProblem(string real, string parentReal, string cls, Dictionary<string, string> classReals)
    {
        if (RealPath.IsSameOrInside(classReals[cls], real) || RealPath.IsSameOrInside(parentReal, real))
            return $"folder link loop: it leads to {real}, which holds this folder; not followed (remove the link)";
        foreach (var (other, otherReal) in classReals)
        {
            if (other == cls) continue;
            if (RealPath.IsSameOrInside(real, otherReal) || RealPath.IsSameOrInside(otherReal, real))
                return $"folder link into class {other}'s folder ({real}): its images would be filed under both classes; not followed (remove the link)";
        }
        return null;
    }

    private readonly record struct Entry(string Name, bool IsDirectory, bool IsLink, long Size, long MtimeNs);

    /// <summary>
    /// One folder's entries from a single listing pass (no extra stat per file), and apart from them
    /// the names that are not valid UTF-8, by their bytes. .NET gives such a name with U+FFFD in place
    /// of its bad bytes, and the path made of it names no file (a stat fails: size 0, no type), so an
    /// entry holding U+FFFD is checked against the folder's raw listing: kept when the name really is
    /// that text, else left out here and returned as undecodable.
    /// </summary>
    private static (List<Entry> Entries, List<RawDirectory.Entry> Undecodable) List(string dir)
    {
        var options = new EnumerationOptions
        {
            RecurseSubdirectories = false,
            AttributesToSkip = 0,
            IgnoreInaccessible = false,
            ReturnSpecialDirectories = false,
        };
        var enumerable = new FileSystemEnumerable<Entry>(dir, (ref FileSystemEntry e) => new Entry(
            e.FileName.ToString(),
            e.IsDirectory,
            (e.Attributes & FileAttributes.ReparsePoint) != 0,
            e.IsDirectory ? 0 : e.Length,
            ToUnixNs(e.LastWriteTimeUtc.UtcDateTime)), options);
        List<Entry> entries = [.. enumerable];
        if (!entries.Any(e => e.Name.Contains('\uFFFD', StringComparison.Ordinal)) || RawDirectory.List(dir) is not { } raw) return (entries, []);

        // How many entries really carry each U+FFFD name (normally one, or none).
        var real = raw.Where(r => r.IsUtf8).Select(r => System.Text.Encoding.UTF8.GetString(r.Name))
            .Where(n => n.Contains('\uFFFD', StringComparison.Ordinal))
            .GroupBy(n => n, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var kept = new List<Entry>(entries.Count);
        foreach (var e in entries)
        {
            if (!e.Name.Contains('\uFFFD', StringComparison.Ordinal)) kept.Add(e);
            else if (real.TryGetValue(e.Name, out var left) && left > 0)
            {
                real[e.Name] = left - 1;
                kept.Add(e);
            }
        }
        return (kept, [.. raw.Where(r => !r.IsUtf8).OrderBy(r => Printable.Bytes(r.Name), StringComparer.Ordinal)]);
    }

    private static long ToUnixNs(DateTime utc) => (utc.Ticks - DateTime.UnixEpoch.Ticks) * 100;
}
