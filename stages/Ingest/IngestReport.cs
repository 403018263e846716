using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using BottleneckPipeline.Artifacts;

namespace BottleneckPipeline.Ingest;

/// <summary>How an ingest run is told to a person: the summary line, the lines after it, and
/// reports/ingest.json (later stages read its index_hash from the index itself, through IngestMeta).</summary>
internal static class IngestReport
{
    public static string Summary(IngestResult r)
    {
        var skipped = r.SkippedHidden + r.SkippedNonImage;
        var duplicates = r.Duplicates.Count > 0 ? $"{r.Duplicates.Count} duplicates, " : "";
        var untrainable = r.ClassesWithoutTraining is { Count: > 0 } none ? $"; WARNING: no training example in class {string.Join(", ", none)}" : "";
        return string.Create(CultureInfo.InvariantCulture,
            $"ingest: {r.Files.Count} images in {r.Classes.Count} classes " +
            $"(train {r.SplitCount(Splits.Train)}, validation {r.SplitCount(Splits.Validation)}, test {r.SplitCount(Splits.Test)}); " +
            $"{r.Rejects.Count} rejected, {r.Conflicts.Count} conflicts, {duplicates}{skipped} skipped; {r.Seconds:0.0} s{untrainable}");
    }

    /// <summary>The lines printed after the summary: rejects, conflicts and warnings, one per line.</summary>
    public static IEnumerable<string> Details(IngestResult r)
    {
        foreach (var (path, reason) in r.Rejects) yield return $"  rejected {path}: {reason}";
        foreach (var (id, paths) in r.Conflicts)
            yield return $"  conflict {id[..12]}: same bytes under {string.Join(", ", paths)}" + (r.IncludeConflicts ? "" : " (kept out of training)");
        foreach (var (path, first) in r.Duplicates) yield return $"  duplicate {path}: same bytes as {first} (one example)";
        foreach (var w in r.Warnings) yield return $"  warning: {w}";
    }

    public static IngestReportContents Contents(IngestResult r)
    {
        var filesByClass = r.Files.GroupBy(f => f.Class, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var examplesByClass = r.Examples.ToLookup(e => e.Class, StringComparer.Ordinal);
        var classes = r.Classes.Select((name, label) =>
        {
            var examples = examplesByClass[name].ToList();
            var usable = examples.Where(e => !e.Conflict || r.IncludeConflicts).ToList();
            return new IngestClass(label, name, filesByClass.GetValueOrDefault(name), examples.Count, examples.Count(e => e.Conflict),
                usable.Count(e => e.Split == Splits.Train), usable.Count(e => e.Split == Splits.Validation), usable.Count(e => e.Split == Splits.Test));
        });
        return new IngestReportContents(
            "ingest", r.Root, r.IndexHash, r.Files.Count, r.Examples.Count, r.IncludeConflicts, [.. classes],
            new IngestSplits(r.SplitCount(Splits.Train), r.SplitCount(Splits.Validation), r.SplitCount(Splits.Test)),
            new IngestSkipped(r.SkippedHidden, r.SkippedNonImage),
            [.. r.Rejects.Select(x => new IngestReject(x.RelPath, x.Reason))],
            [.. r.Conflicts.Select(c => new IngestConflict(c.ContentId, c.Paths))],
            [.. r.Duplicates.Select(d => new IngestDuplicate(d.RelPath, d.SameAs))],
            r.Warnings, r.ClassesWithoutTraining,
            new IngestChanges(r.AddedFiles, r.ChangedFiles, r.RemovedFiles, r.ProbedFiles, r.ReusedFiles),
            Math.Round(r.Seconds, 3));
    }

    /// <summary>The report as the JSON the file holds.</summary>
    public static JsonObject ToJson(IngestResult r) => JsonSerializer.SerializeToNode(Contents(r), ReportJson.Options)!.AsObject();

    public static string Write(IngestResult r, string reportsDir)
    {
        var path = Path.Combine(reportsDir, "ingest.json");
        ReportJson.Write(path, Contents(r));
        return path;
    }

    /// <summary>A report <see cref="Write"/> wrote; a <see cref="DamagedArtifactException"/> when its checksum does not vouch for it.</summary>
    public static IngestReportContents Read(string path) => ReportJson.Read<IngestReportContents>(path, Advice);

    /// <summary>Every Ingest run writes the report again.</summary>
    public const string Advice = "run make ingest: Ingest writes it again";

    /// <summary>Why the report a run is about to replace could not be trusted, or null when it is sound or absent:
    /// the run's one line about rewriting it.</summary>
    public static DamagedArtifactException? Damage(string path)
    {
        if (!File.Exists(path)) return null;
        try
        {
            Read(path);
            return null;
        }
        catch (DamagedArtifactException e) { return e; }
    }
}

/// <summary>reports/ingest.json, key for key (snake_case of these names, in this order).</summary>
internal sealed record IngestReportContents(
    string Stage, string DatasetRoot, string IndexHash, int Images, int Examples, bool IncludeConflicts,
    IReadOnlyList<IngestClass> Classes, IngestSplits Splits, IngestSkipped Skipped, IReadOnlyList<IngestReject> Rejects,
    IReadOnlyList<IngestConflict> Conflicts, IReadOnlyList<IngestDuplicate> Duplicates, IReadOnlyList<string> Warnings,
    IReadOnlyList<string> ClassesWithoutTraining, IngestChanges Changes, double Seconds);

/// <summary>A class's files, examples and conflicts, and its usable examples by split.</summary>
internal sealed record IngestClass(int LabelId, string Name, int Files, int Examples, int Conflicts, int Train, int Validation, int Test);

/// <summary>Usable examples by split.</summary>
internal sealed record IngestSplits(int Train, int Validation, int Test);

internal sealed record IngestSkipped(int Hidden, int NonImage);

internal sealed record IngestReject(string Path, string Reason);

internal sealed record IngestConflict(string ContentId, IReadOnlyList<string> Paths);

internal sealed record IngestDuplicate(string Path, string SameAs);

/// <summary>Files since the last run: added, changed, removed; opened and read (probed), or reused unread.</summary>
internal sealed record IngestChanges(int Added, int Changed, int Removed, int Probed, int Reused);
