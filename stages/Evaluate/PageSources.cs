using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Config;
using BottleneckPipeline.Head;

namespace BottleneckPipeline.Evaluate;

/// <summary>What evaluation.html shows beyond the report itself.</summary>
/// <param name="Title">What was scored, for the page's title.</param>
/// <param name="ImageRoot">The folder the report's relative image paths are under (thumbnails and links).</param>
/// <param name="MaxPixels">dataset.max_pixels: a photo above it gets no thumbnail, as it got no vector.</param>
/// <param name="LearningCurve">The head's training log; null when it could not be read.</param>
/// <param name="LearningCurvePath">Where that log was looked for, named on the page when it is missing.</param>
/// <param name="Compared">the model that does not ship, shown beside the shipped one with its own curve; null: there is one model.</param>
/// <param name="Doctor">the data doctor's findings, for the page's Dataset issues section; null: no such section.</param>
internal sealed record PageSources(
    string Title, string ImageRoot, long MaxPixels,
    IReadOnlyList<TrainingLogRow>? LearningCurve, string LearningCurvePath,
    RunProvenance Provenance, ComparedResult? Compared = null, DoctorSource? Doctor = null)
{
    /// <summary>The sources for a report on images under <paramref name="dataset"/>'s root, scored by the head of this workspace.</summary>
    public static PageSources For(PipelineConfig config, string title, DatasetIdentity dataset)
    {
        var logPath = ArtifactPaths.TrainingLog(config);
        return new PageSources(title, dataset.Root, config.Dataset.MaxPixels, TrainingLog.TryRead(logPath), logPath,
            RunProvenance.For(config, dataset, DateTimeOffset.UtcNow));
    }
}

/// <summary>The other model's result on the same images, set beside the shipped one.</summary>
internal sealed record ComparedResult(string Name, EvaluationReport Report, IReadOnlyList<TrainingLogRow>? LearningCurve);
