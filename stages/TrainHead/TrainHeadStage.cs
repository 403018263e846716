using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Index;
using BottleneckPipeline.Head;

namespace BottleneckPipeline.TrainHead;

/// <summary>
/// The TrainHead stage: the train and validation vectors named by the index, read from the cache
/// that Extract's report points at, fitted by <see cref="HeadTrainingRun"/>. Up to date (and
/// instant) when neither the train_head section nor Extract's inputs changed.
/// </summary>
public static class TrainHeadStage
{
    public static readonly string[] Sections = ["train_head"];

    public static HeadStageOutcome Run(PipelineConfig config, IndexDb db)
    {
        var extract = ExtractReport.Read(config);
        return HeadTrainingRun.Execute(config, extract.Backbone, extract.Fingerprint, extract.InputsHash, () =>
        {
            var labels = SplitVectors.LabelNames(db);
            // One pass over the cache for both splits, holding only their vectors (float16 past a budget).
            var sets = SplitVectors.Load(db, config.CacheDir, extract.Fingerprint, ["train", "validation"], labels, config.Dataset.IncludeConflicts);
            var (train, validation) = (sets[0], sets[1]);
            return (train, validation.Count > 0 ? validation : null);
        });
    }
}
