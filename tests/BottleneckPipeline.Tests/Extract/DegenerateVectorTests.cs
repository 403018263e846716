using System.Text.Json.Nodes;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Extract;

/// <summary>
/// A backbone that gives vectors no head can learn from (zero weights, a wrong input scale, an
/// output that is its biases) stops Extract with exit 3, naming the check that failed with its
/// figure and pointing to `make inspect`, instead of `make` running to a useless model. The vectors
/// already embedded stay in the cache. Through the built executables, on real photos.
/// </summary>
[Trait("Category", "Faults")]
public class DegenerateVectorTests
{
    [Fact]
    public void The_zero_weight_Inception_v3_stops_Extract_with_exit_3_and_keeps_what_it_embedded()
    {
        using var t = new TempDir();
        var rig = new FaultRig(t["rig"], TestIndex.CopyFlowers(t["data"], classes: 2, perClass: 3),
            extraYaml: $"backbone:\n  name: inception-v3\n  onnx: {RepoPaths.InceptionZeroWeights}\n");
        rig.RunOk("Ingest");

        var r = rig.Run("Extract");
        AssertRefused(r, "every value of all 6 vectors is 0", rig.ConfigPath);
        Assert.False(File.Exists(Path.Combine(rig.ReportsDir, "extract.json"))); // so TrainHead cannot go on, and the next run checks again

        // The refusal destroyed nothing: the six vectors are cached, and a rerun embeds none again before refusing again.
        var fingerprint = Path.GetFileName(Assert.Single(Directory.GetDirectories(rig.CacheDir), d => Path.GetFileName(d) != "layout"));
        Assert.Equal(6, BottleneckCache.Open(rig.CacheDir, fingerprint, loadVectors: false).Count);
        var again = rig.Run("Extract");
        AssertRefused(again, "every value of all 6 vectors is 0", rig.ConfigPath);
        Assert.DoesNotContain("extract: 6/6", again.StdOut, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.BadInput, rig.Run("TrainHead").ExitCode);
    }

    [Theory]
    [InlineData("nan", "of the 6 vectors hold NaN or infinite values")]
    [InlineData("zero", "every value of all 6 vectors is 0")]
    [InlineData("tiny", "the vectors are practically 0: median norm")]
    [InlineData("biases", "the vectors are all nearly the same, whatever the image: mean pairwise cosine distance")]
    public void Each_kind_of_degenerate_vector_is_refused_naming_its_check(string kind, string check)
    {
        using var t = new TempDir();
        var model = t["model.onnx"];
        var normalization = "imagenet";
        switch (kind)
        {
            case "nan": TestModels.WriteExpectsNonNegative(model); break; // sqrt of zero-centred pixels
            case "zero": TestModels.WriteExpects0To255(model); normalization = "inception"; break; // every unit cut off
            case "tiny": TestModels.WriteScaledMeanColour(model, 1e-9f, [0, 0, 0]); break;
            default: TestModels.WriteScaledMeanColour(model, 1e-7f, [1, 2, 3]); break;
        }
        var rig = new FaultRig(t["rig"], TestIndex.CopyFlowers(t["data"], classes: 2, perClass: 3),
            extraYaml: $"backbone:\n  name: custom\n  onnx: {model}\n  normalization: {normalization}\n");
        rig.RunOk("Ingest");
        AssertRefused(rig.Run("Extract"), check, rig.ConfigPath);
    }

    [Fact]
    public void Real_features_pass_and_their_figures_are_recorded()
    {
        using var t = new TempDir();
        var model = t["mean-colour.onnx"];
        TestModels.WriteScaledMeanColour(model, 1, [0, 0, 0]); // each photo's mean colour: a weak feature, but a real one
        var data = TestIndex.CopyFlowers(t["data"], classes: 3, perClass: 4);
        foreach (var backbone in new[] { $"backbone:\n  name: custom\n  onnx: {model}\n  normalization: imagenet\n", "" }) // and ResNet-18
        {
            var rig = new FaultRig(t[$"rig{backbone.Length}"], data, extraYaml: backbone);
            rig.RunOk("Ingest");
            rig.RunOk("Extract");
            var health = rig.ExtractReport["vector_health"]!;
            Assert.Equal(12, health["vectors"]!.GetValue<int>());
            Assert.True(health["median_norm"]!.GetValue<double>() > 100 * VectorHealth.TinyNorm, health.ToJsonString());
            Assert.True(health["mean_cosine_distance"]!.GetValue<double>() > 10 * VectorHealth.SameDirection, health.ToJsonString());
        }
    }

    [Fact]
    public void The_checks_judge_figures_not_scale()
    {
        float[] V(params float[] x) => x;
        Assert.Null(VectorHealth.Problem(VectorHealth.Measure([V(1e-3f, 0, 0), V(0, 1e-3f, 0)]))); // small but distinct
        Assert.Contains("practically 0", VectorHealth.Problem(VectorHealth.Measure([V(1e-8f, 0), V(0, 1e-8f)])));
        Assert.Contains("nearly the same", VectorHealth.Problem(VectorHealth.Measure([V(10, 20), V(20, 40.0001f), V(5, 10)])));
        Assert.Contains("NaN", VectorHealth.Problem(VectorHealth.Measure([V(1, float.NaN), V(1, 2)])));
        Assert.Contains("NaN or infinite", VectorHealth.Problem(VectorHealth.Measure([V(1, float.PositiveInfinity), V(1, 2)])));
        var figures = VectorHealth.Measure([V(3, 4), V(4, 3)]);
        Assert.Equal(5, figures.MedianNorm, 6);
        Assert.Equal(1 - 24.0 / 25, figures.MeanCosineDistance!.Value, 6);
        Assert.Null(VectorHealth.Problem(VectorHealth.Measure([]))); // nothing to judge
    }

    private static void AssertRefused(StageProcess.Result r, string check, string config)
    {
        Assert.True(r.ExitCode == ExitCodes.BadInput, $"Extract exited {r.ExitCode}:\n{r.Output}");
        Assert.Contains("extract: error: the vectors of backbone", r.StdErr, StringComparison.Ordinal);
        Assert.Contains(check, r.StdErr, StringComparison.Ordinal);
        Assert.Contains($"make inspect CONFIG={config}", r.StdErr, StringComparison.Ordinal);
        Assert.Contains("stay in the cache", r.StdErr, StringComparison.Ordinal);
    }
}
