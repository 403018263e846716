using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Head;
using BottleneckPipeline.Index;

namespace BottleneckPipeline.FineTune;

/// <summary>
/// A split's examples from the index, as the head's training saw them: label conflicts (unless
/// dataset.include_conflicts), images Extract quarantined and those dataset.exclude names are left out;
/// ordered by content id.
/// </summary>
internal static class SplitExamples
{
    /// <param name="excluded">the images dataset.exclude leaves out; default: the config's list, resolved against the index.</param>
    public static List<FineTuneExample> Of(PipelineConfig config, IndexDb db, string split, string[] labelNames, ExcludedImages? excluded = null)
    {
        var labels = LabelIndex.Of(labelNames);
        var list = new List<FineTuneExample>();
        var skip = (excluded ?? ExcludedImages.Of(config, db)).ContentIds;
        foreach (var (id, label, rel) in SplitVectors.Members(db, split, labels, labelNames, config.Dataset.IncludeConflicts, skip))
            list.Add(new FineTuneExample(id, label, System.IO.Path.Combine(config.Dataset.Root, rel.Replace('/', System.IO.Path.DirectorySeparatorChar)), rel));
        return list;
    }
}
