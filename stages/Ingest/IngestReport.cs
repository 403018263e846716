using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Ingest;

/// <summary>How an ingest run is told to a person: the summary line, the lines after it, and
/// reports/ingest.json (later stages read its index_hash from the index itself, through IngestMeta).</summary>
public static class IngestReport
{
    public static string Summary(IngestResult r)
    {
        var skipped = r.SkippedHidden + r.SkippedNonImage;
        var duplicates = r.Duplicates.Count > 0 ? $"{r.Duplicates.Count} duplicates, " : "";
        var untrainable = r.ClassesWithoutTraining is { Count: > 0 } none ? $"; WARNING: no training example in class {string.Join(", ", none)}" : "";
        return string.Create(CultureInfo.InvariantCulture,
            $"ingest: {r.Files.Count} images in {r.Classes.Count} classes (train {r.SplitCount(Splits.Train)}, validation {r.SplitCount(Splits.Validation)}, test {r.SplitCount(Splits.Test)}); " +
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

    public static JsonObject ToJson(IngestResult r)
    {
        var filesByClass = r.Files.GroupBy(f => f.Class, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var examplesByClass = r.Examples.ToLookup(e => e.Class, StringComparer.Ordinal);
        var classes = new JsonArray();
        for (var label = 0; label < r.Classes.Count; label++)
        {
            var name = r.Classes[label];
            var examples = examplesByClass[name].ToList();
            var usable = examples.Where(e => !e.Conflict || r.IncludeConflicts).ToList();
            classes.Add(new JsonObject
            {
                ["label_id"] = label,
                ["name"] = name,
                ["files"] = filesByClass.GetValueOrDefault(name),
                ["examples"] = examples.Count,
                ["conflicts"] = examples.Count(e => e.Conflict),
                ["train"] = usable.Count(e => e.Split == Splits.Train),
                ["validation"] = usable.Count(e => e.Split == Splits.Validation),
                ["test"] = usable.Count(e => e.Split == Splits.Test),
            });
        }
        var splits = new JsonObject();
        foreach (var s in Splits.All) splits[s] = r.SplitCount(s);
        return new JsonObject
        {
            ["stage"] = "ingest",
            ["dataset_root"] = r.Root,
            ["index_hash"] = r.IndexHash,
            ["images"] = r.Files.Count,
            ["examples"] = r.Examples.Count,
            ["include_conflicts"] = r.IncludeConflicts,
            ["classes"] = classes,
            ["splits"] = splits,
            ["skipped"] = new JsonObject { ["hidden"] = r.SkippedHidden, ["non_image"] = r.SkippedNonImage },
            ["rejects"] = new JsonArray([.. r.Rejects.Select(x => (JsonNode)new JsonObject { ["path"] = x.RelPath, ["reason"] = x.Reason })]),
            ["conflicts"] = new JsonArray([.. r.Conflicts.Select(c => (JsonNode)new JsonObject
            {
                ["content_id"] = c.ContentId,
                ["paths"] = new JsonArray([.. c.Paths.Select(p => (JsonNode)JsonValue.Create(p))]),
            })]),
            ["duplicates"] = new JsonArray([.. r.Duplicates.Select(d => (JsonNode)new JsonObject { ["path"] = d.RelPath, ["same_as"] = d.SameAs })]),
            ["warnings"] = new JsonArray([.. r.Warnings.Select(w => (JsonNode)JsonValue.Create(w))]),
            ["classes_without_training"] = new JsonArray([.. r.ClassesWithoutTraining.Select(c => (JsonNode)JsonValue.Create(c))]),
            ["changes"] = new JsonObject
            {
                ["added"] = r.AddedFiles,
                ["changed"] = r.ChangedFiles,
                ["removed"] = r.RemovedFiles,
                ["probed"] = r.ProbedFiles,
                ["reused"] = r.ReusedFiles,
            },
            ["seconds"] = Math.Round(r.Seconds, 3),
        };
    }

    public static string Write(IngestResult r, string reportsDir)
    {
        var path = Path.Combine(reportsDir, "ingest.json");
        var json = ToJson(r).ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        AtomicFile.WriteAllText(path, json + "\n");
        return path;
    }
}
