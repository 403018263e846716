using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using BottleneckPipeline.Config;
using BottleneckPipeline.Imaging;
using BottleneckPipeline.Index;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Ingest;

/// <summary>
/// The Ingest stage: scans dataset.root, probes new and changed files in parallel (unchanged ones,
/// same size and mtime, keep their stored row without being opened), derives examples, conflicts and
/// splits, and brings the index up to date in one transaction.
/// </summary>
internal static class Ingestor
{
    /// <summary>Extensions that mark a file as meant to be an image: when such a file is not one, it is
    /// rejected (the user should know); any other non-image (notes, thumbnails databases) is only skipped.</summary>
    private static readonly HashSet<string> ImageExtensions = new(StringComparer.OrdinalIgnoreCase)
    {
        "", ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".bmp", ".dib", ".webp", ".tif", ".tiff",
    };

    /// <param name="ct">Checked after the walk, between probed files and before the index is written;
    /// the index is written in one transaction, so a stop leaves it as it was.</param>
    public static IngestResult Run(DatasetConfig dataset, IndexDb db, int maxParallelism = 0, CancellationToken ct = default)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        // Unchanged files keep their stored rows unread from disk: the whole index is checked first.
        db.VerifyWhole();
        var root = dataset.Root;
        var scan = DatasetScanner.Scan(root);
        ct.ThrowIfCancellationRequested();
        var stored = LoadFiles(db);

        // Unchanged files keep their stored row; only new or changed ones are opened.
        var rows = new List<FileRow>(scan.Files.Count);
        var pending = new List<ScannedFile>();
        foreach (var f in scan.Files)
        {
            if (stored.TryGetValue(f.RelPath, out var old) && old.Size == f.Size && old.MtimeNs == f.MtimeNs && old.Class == f.Class)
                rows.Add(old);
            else
                pending.Add(f);
        }
        var reused = rows.Count;

        var outcomes = new ProbeOutcome[pending.Count];
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = maxParallelism > 0 ? maxParallelism : Environment.ProcessorCount };
        if (pending.Count > 0)
        {
            // Ranges rather than single items: fewer hand-offs between threads for many tiny files.
            var rangeSize = Math.Max(1, Math.Min(64, pending.Count / (parallel.MaxDegreeOfParallelism * 8)));
            Parallel.ForEach(Partitioner.Create(0, pending.Count, rangeSize), parallel, range =>
            {
                for (var i = range.Item1; i < range.Item2 && !ct.IsCancellationRequested; i++)
                    outcomes[i] = ImageProbe.Probe(Path.Join(root, pending[i].RelPath), pending[i].Size, dataset.MaxPixels);
            });
        }
        ct.ThrowIfCancellationRequested();

        var rejects = new List<(string RelPath, string Reason)>(scan.Rejects);
        var nonImage = 0;
        int added = 0, changed = 0;
        for (var i = 0; i < pending.Count; i++)
        {
            var f = pending[i];
            var o = outcomes[i];
            if (o.Image is { } img)
            {
                rows.Add(new FileRow(f.RelPath, f.Class, f.Size, f.MtimeNs, img.ContentId, img.Width, img.Height, img.Format));
                if (stored.ContainsKey(f.RelPath)) changed++; else added++;
            }
            else if (o.NotAnImage && !ImageExtensions.Contains(Path.GetExtension(f.RelPath)))
                nonImage++;
            else
                rejects.Add((f.RelPath, o.RejectReason!));
        }
        rows.Sort((a, b) => string.CompareOrdinal(a.RelPath, b.RelPath));
        rejects.Sort((a, b) => string.CompareOrdinal(a.RelPath, b.RelPath));
        var present = new HashSet<string>(rows.Count, StringComparer.Ordinal);
        foreach (var r in rows) present.Add(r.RelPath);
        var removed = stored.Keys.Where(k => !present.Contains(k)).ToList();

        var warnings = new List<string>(scan.Warnings);
        var classesWithImages = rows.Select(r => r.Class).ToHashSet(StringComparer.Ordinal);
        var classes = scan.ClassFolders.Where(classesWithImages.Contains).ToList();
        foreach (var empty in scan.ClassFolders.Where(c => !classesWithImages.Contains(c)))
            warnings.Add($"class folder {empty} has no usable images; it is left out of the classes");
        if (classes.Count == 0)
            throw new InputException($"no usable images under dataset.root {root} ({rejects.Count} rejected, {nonImage} non-image, {scan.Hidden} hidden). " +
                                     "Put JPEG, PNG, GIF, BMP, WebP or TIFF images in its class subfolders.");
        if (classes.Count == 1)
            throw OneClass(root, classes[0], rows.Count, scan.ClassFolders.Where(c => c != classes[0]).ToList());

        var assigner = new SplitAssigner(dataset.ValidationPercent, dataset.TestPercent, dataset.SplitSalt, dataset.GroupPattern);
        var (examples, conflicts, duplicates) = BuildExamples(rows, assigner);
        warnings.AddRange(SplitWarnings(classes, examples, dataset));
        var indexHash = IndexHash(examples);

        var result = new IngestResult
        {
            Root = root,
            Classes = classes,
            Files = rows,
            Examples = examples,
            Rejects = rejects,
            Conflicts = conflicts,
            Duplicates = duplicates,
            Warnings = warnings,
            SkippedHidden = scan.Hidden,
            SkippedNonImage = nonImage,
            IndexHash = indexHash,
            IncludeConflicts = dataset.IncludeConflicts,
            ProbedFiles = pending.Count,
            ReusedFiles = reused,
            AddedFiles = added,
            ChangedFiles = changed,
            RemovedFiles = removed.Count,
        };
        IndexWriter.Write(db, result, stored, removed);
        result.Seconds = started.Elapsed.TotalSeconds;
        return result;
    }

    /// <summary>
    /// One class is no classifier: the head would learn to answer it for every image (probability
    /// 1.0), and the run would look like a success. Refused before the index is written, naming the
    /// class, the folders left out, and, when the one class holds class-like subfolders, the root meant.
    /// </summary>
    private static InputException OneClass(string root, string cls, int images, List<string> leftOut)
    {
        var others = leftOut.Count == 0 ? ""
            : $"; the other class folder(s) ({string.Join(", ", leftOut.Take(5))}{(leftOut.Count > 5 ? ", ..." : "")}) have no usable images";
        var inner = Path.Join(root, cls);
        var subfolders = Directory.Exists(inner)
            ? Directory.GetDirectories(inner).Where(d => !Path.GetFileName(d).StartsWith('.')).ToList()
            : [];
        var hint = subfolders.Count >= 2
            ? $" Its subfolders look like the classes: did you mean dataset.root: {inner}?"
            : "";
        return new InputException(
            $"dataset.root {root} has one class ({cls}: {images} images){others}: a classifier needs at least two. " +
            $"Put the images of each class in a subfolder of its own under {root} (for example {Path.Join(root, "cats")}/ and {Path.Join(root, "dogs")}/), " +
            $"then run Ingest again.{hint}");
    }

    private static Dictionary<string, FileRow> LoadFiles(IndexDb db)
    {
        var rows = new Dictionary<string, FileRow>(StringComparer.Ordinal);
        // Class and format repeat on every row: one shared string each keeps a large index small in memory.
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        string Shared(string s) => names.TryGetValue(s, out var known) ? known : names[s] = s;
        using var cmd = db.Command("SELECT rel_path, class, size, mtime_ns, content_id, width, height, format FROM files;");
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            var row = new FileRow(r.GetString(0), Shared(r.GetString(1)), r.GetInt64(2), r.GetInt64(3), r.GetString(4), r.GetInt32(5), r.GetInt32(6),
                Shared(r.GetString(7)));
            rows[row.RelPath] = row;
        }
        return rows;
    }

    /// <summary>One example per distinct (content, class), represented by its first path; contents under
    /// two or more classes are conflicts. Rows must be sorted by path.</summary>
    internal static (List<ExampleRow> Examples, List<(string, IReadOnlyList<string>)> Conflicts, List<(string, string)> Duplicates) BuildExamples(
        List<FileRow> rows, SplitAssigner assigner)
    {
        var firstPath = new Dictionary<(string ContentId, string Class), string>();
        var classesOf = new Dictionary<string, int>(StringComparer.Ordinal);
        var duplicates = new List<(string, string)>();
        foreach (var r in rows)
        {
            if (firstPath.TryAdd((r.ContentId, r.Class), r.RelPath))
                classesOf[r.ContentId] = classesOf.GetValueOrDefault(r.ContentId) + 1;
            else
                duplicates.Add((r.RelPath, firstPath[(r.ContentId, r.Class)]));
        }
        var examples = new List<ExampleRow>(firstPath.Count);
        foreach (var ((contentId, cls), relPath) in firstPath)
        {
            var group = assigner.GroupKey(relPath);
            examples.Add(new ExampleRow(contentId, cls, assigner.Assign(contentId, group), group, classesOf[contentId] > 1, relPath));
        }
        examples.Sort((a, b) =>
        {
            var c = string.CompareOrdinal(a.ContentId, b.ContentId);
            return c != 0 ? c : string.CompareOrdinal(a.Class, b.Class);
        });

        var conflictIds = classesOf.Where(kv => kv.Value > 1).Select(kv => kv.Key).ToHashSet(StringComparer.Ordinal);
        var conflicts = rows.Where(r => conflictIds.Contains(r.ContentId))
            .GroupBy(r => r.ContentId, StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => (g.Key, (IReadOnlyList<string>)g.Select(r => r.RelPath).ToList()))
            .ToList();
        return (examples, conflicts, duplicates);
    }

    private static IEnumerable<string> SplitWarnings(List<string> classes, List<ExampleRow> examples, DatasetConfig dataset)
    {
        var all = examples.ToLookup(e => e.Class, StringComparer.Ordinal);
        var usable = examples.Where(e => !e.Conflict || dataset.IncludeConflicts).ToLookup(e => e.Class, StringComparer.Ordinal);
        foreach (var cls in classes)
        {
            var splits = usable[cls].Select(e => e.Split).ToHashSet(StringComparer.Ordinal);
            if (!splits.Contains(Splits.Train))
            {
                var conflicts = dataset.IncludeConflicts ? 0 : all[cls].Count(e => e.Conflict);
                var why = conflicts > 0
                    ? $"{conflicts} of its {all[cls].Count()} images are label conflicts (the same bytes under another class), kept out of training"
                    : $"its {all[cls].Count()} image(s) all fell in validation or test";
                yield return $"class {cls} has NO training example ({why}); TrainHead will refuse to run until it has one. " +
                             "Add images to it, or remove its folder";
            }
            if (dataset.ValidationPercent > 0 && !splits.Contains(Splits.Validation))
                yield return $"class {cls} has no validation example; add images to it (or accept that its validation accuracy is unmeasured)";
            if (dataset.TestPercent > 0 && !splits.Contains(Splits.Test))
                yield return $"class {cls} has no test example; add images to it (or accept that its test accuracy is unmeasured)";
        }
    }

    /// <summary>SHA-256 over "content_id \t class \t split \t conflict \n" for each example, in (content_id, class) order.</summary>
    internal static string IndexHash(IEnumerable<ExampleRow> orderedExamples)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var line = new StringBuilder();
        foreach (var e in orderedExamples)
        {
            line.Clear().Append(e.ContentId).Append('\t').Append(e.Class).Append('\t').Append(e.Split).Append('\t')
                .Append(e.Conflict ? '1' : '0').Append('\n');
            hash.AppendData(Encoding.UTF8.GetBytes(line.ToString()));
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
