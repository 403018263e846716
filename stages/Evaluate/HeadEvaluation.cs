using BottleneckPipeline.Cache;
using BottleneckPipeline.Head;
using BottleneckPipeline.Metrics;

namespace BottleneckPipeline.Evaluate;

/// <summary>The Evaluate stage's work once the test vectors are in memory: apply the head and measure it.</summary>
public static class HeadEvaluation
{
    public static (EvaluationReport Report, float[][] Probabilities) Evaluate(HeadArtifact artifact, string headPath, LabelledVectors test, int topK)
    {
        if (!test.LabelNames.SequenceEqual(artifact.LabelNames))
            throw new ArgumentException("test vectors must use the head's label names, in its order");
        var head = artifact.Head;
        var probabilities = head.Probabilities(test);
        var metrics = ClassificationMetrics.Compute(test.Labels, probabilities, artifact.LabelNames, topK);
        var misclassified = Misclassification.List(test.RelativePaths, test.Labels, probabilities, artifact.LabelNames, topK);
        var report = EvaluationReport.Create(metrics, misclassified,
            new BackboneReport(artifact.BackboneName, artifact.BackboneFingerprint),
            new HeadReport(headPath, artifact.InputsHash, artifact.Metrics.BestStep, artifact.Metrics.ValidationAccuracy));
        return (report, probabilities);
    }
}
