using BottleneckPipeline.Cache;
using BottleneckPipeline.Head;
using BottleneckPipeline.Metrics;

namespace BottleneckPipeline.Evaluate;

/// <summary>A head applied to vectors in memory: its report on a split, and its validation score.</summary>
internal static class HeadEvaluation
{
    public static (EvaluationReport Report, float[][] Probabilities) Evaluate(HeadArtifact artifact, string headPath, LabelledVectors set, int topK,
        string scored, string model)
    {
        var probabilities = Probabilities(artifact, set);
        var metrics = ClassificationMetrics.Compute(set.Labels, probabilities, artifact.LabelNames, topK);
        var misclassified = Misclassification.List(set.RelativePaths, set.Labels, probabilities, artifact.LabelNames, topK);
        var report = EvaluationReport.Create(scored, model, metrics, misclassified,
            new BackboneReport(artifact.BackboneName, artifact.BackboneFingerprint),
            new HeadReport(headPath, artifact.InputsHash, artifact.Metrics.BestStep, artifact.Metrics.ValidationAccuracy));
        return (report, probabilities);
    }

    /// <summary>Accuracy and mean cross-entropy of the true class: what the shipping rule compares.</summary>
    public static ValidationScore Score(HeadArtifact artifact, LabelledVectors set, string model)
    {
        var probabilities = Probabilities(artifact, set);
        var correct = 0;
        var loss = 0.0;
        for (var i = 0; i < set.Count; i++)
        {
            if (ClassificationMetrics.ArgMax(probabilities[i]) == set.Labels[i]) correct++;
            loss -= Math.Log(Math.Max(probabilities[i][set.Labels[i]], 1e-12));
        }
        return new ValidationScore(model, Accuracy.Of(correct, set.Count), set.Count == 0 ? double.NaN : loss / set.Count);
    }

    private static float[][] Probabilities(HeadArtifact artifact, LabelledVectors set)
    {
        if (!set.LabelNames.SequenceEqual(artifact.LabelNames))
            throw new ArgumentException("vectors must use the head's label names, in its order");
        return artifact.Head.Probabilities(set);
    }
}
