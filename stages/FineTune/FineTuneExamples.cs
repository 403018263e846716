using BottleneckPipeline.Config;
using BottleneckPipeline.Head;
using BottleneckPipeline.Index;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.FineTune;

/// <summary>One image FineTune trains or validates on: its content, label (in the head's order) and file.</summary>
public sealed record FineTuneExample(string ContentId, int Label, string Path, string RelPath);

/// <summary>
/// A split's examples from the index, as the head's training saw them: label conflicts (unless
/// dataset.include_conflicts) and images Extract quarantined are left out; ordered by content id.
/// </summary>
public static class FineTuneExamples
{
    public static List<FineTuneExample> Of(PipelineConfig config, IndexDb db, string split, string[] labelNames)
    {
        var labels = LabelIndex.Of(labelNames);
        var list = new List<FineTuneExample>();
        using var cmd = db.Command("""
            SELECT e.content_id, e.class, e.rel_path FROM examples e
            WHERE e.split = $split AND ($conflicts OR e.conflict = 0)
              AND e.content_id NOT IN (SELECT content_id FROM quarantine)
            ORDER BY e.content_id, e.class;
            """);
        cmd.Parameters.AddWithValue("$split", split);
        cmd.Parameters.AddWithValue("$conflicts", config.Dataset.IncludeConflicts);
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            var (id, cls, rel) = (r.GetString(0), r.GetString(1), r.GetString(2));
            if (!labels.TryGetValue(cls, out var label))
                throw new InputException($"{rel} has class '{cls}', which the head does not know ({string.Join(", ", labelNames)}). Re-run TrainHead on the current index (make train-head).");
            list.Add(new FineTuneExample(id, label, System.IO.Path.Combine(config.Dataset.Root, rel.Replace('/', System.IO.Path.DirectorySeparatorChar)), rel));
        }
        return list;
    }
}
