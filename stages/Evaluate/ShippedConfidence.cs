using BottleneckPipeline.Cache;
using BottleneckPipeline.Confidence;
using BottleneckPipeline.Head;

namespace BottleneckPipeline.Evaluate;

/// <summary>The shipped model's calibration: its temperature, and the calibration error on the test split before and after.</summary>
/// <param name="EceSamplingFloor">the error a perfectly calibrated model would still show on that many images: below it, no figure is meaningful.</param>
internal sealed record CalibrationReport(double EceSamplingFloor, ReliabilityBin[] Before, ReliabilityBin[] After);

/// <summary>The shipped model's "unknown" rule: its score, the threshold set on the validation split and what it flags on test.</summary>
/// <param name="FlaggedShareTest">the share of test images (all of known classes) called unknown.</param>
/// <param name="Bytes">what the rule adds to model.onnx.</param>
internal sealed record UnknownReport(string Method, double Threshold, double KeepShare, double FlaggedShareTest, int TrainingImages, long Bytes);

/// <summary>
/// What makes the shipped model's confidence mean something (see <see cref="Confidence"/>): one temperature fitted on the
/// validation split (the standard method, one scalar minimising the validation log-loss), folded into the head so model.onnx
/// gives calibrated probabilities; and the unknown score, relative Mahalanobis distance on the model's own bottleneck vectors,
/// fitted on the training split, its threshold set on validation so that 95% of in-class photos are kept.
/// </summary>
internal static class ShippedConfidence
{
    /// <summary>The validation split's temperature; 1 without validation images.</summary>
    public static double FitTemperature(HeadArtifact head, LabelledVectors validation) =>
        validation.Count == 0 ? 1 : TemperatureScaling.Fit([.. validation.Rows.Select(r => TemperatureScaling.Logits(head.Head, r))], validation.Labels);

    /// <summary>A copy of the head with the temperature folded into its weights.</summary>
    public static HeadArtifact WithTemperature(HeadArtifact head, double temperature)
    {
        var scaled = TemperatureScaling.Apply(head.Head, temperature);
        var copy = MessagePack.MessagePackSerializer.Deserialize<HeadArtifact>(MessagePack.MessagePackSerializer.Serialize(head));
        copy.Weights = scaled.Weights;
        copy.Bias = scaled.Bias;
        return copy;
    }

    /// <summary>Reliability of the head on the test split before (T = 1) and after the temperature.</summary>
    public static CalibrationReport Calibration(HeadArtifact raw, double temperature, LabelledVectors test)
    {
        var logits = test.Rows.Select(r => TemperatureScaling.Logits(raw.Head, r)).ToList();
        var before = Confidence.Calibration.Reliability([.. logits.Select(l => TemperatureScaling.Probabilities(l, 1))], test.Labels);
        var after = Confidence.Calibration.Reliability([.. logits.Select(l => TemperatureScaling.Probabilities(l, temperature))], test.Labels);
        var confidences = logits.Select(l => (double)TemperatureScaling.Probabilities(l, temperature).Max()).ToList();
        return new CalibrationReport(test.Count == 0 ? double.NaN : Confidence.Calibration.SamplingFloor(confidences), before, after);
    }

    /// <summary>The unknown score fitted on the model's training vectors, its threshold on its validation vectors.</summary>
    public static RelativeMahalanobis FitUnknown(LabelledVectors train, LabelledVectors validation)
    {
        var scorer = RelativeMahalanobis.Fit(train);
        var keepFrom = validation.Count > 0 ? validation : train;
        return scorer.WithThreshold(scorer.Scores(keepFrom));
    }

    public static UnknownReport Report(RelativeMahalanobis scorer, LabelledVectors test) =>
        new(scorer.Method, scorer.Threshold, scorer.KeepShare,
            test.Count == 0 ? double.NaN : (double)test.Rows.Count(r => scorer.IsUnknown(r)) / test.Count, scorer.TrainingCount, scorer.StoredBytes);
}
