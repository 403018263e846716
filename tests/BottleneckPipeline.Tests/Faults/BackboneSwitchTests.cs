using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Faults;

/// <summary>Switching the backbone re-runs what depends on it and keeps the other backbone's vectors.</summary>
[Trait("Category", "Faults")]
public class BackboneSwitchTests
{
    [Fact]
    public void Switching_backbone_and_back_re_extracts_nothing_the_second_time()
    {
        using var t = new TempDir();
        var data = TestIndex.CopyFlowers(t["data"], classes: 2, perClass: 5);
        const string noExport = "evaluate:\n  export: false";
        var rig = new FaultRig(t["rig"], data, extraYaml: noExport);
        rig.RunAll();
        var resnet = (Fingerprint: rig.Fingerprint, Vectors: rig.Vectors(), Head: rig.Head());

        // Another backbone, of another dimension: each photo's mean colour (a weak feature, but not a degenerate one).
        var other = t["mean-colour.onnx"];
        TestModels.WriteScaledMeanColour(other, 1, [0, 0, 0]);
        rig.WriteConfig($"backbone:\n  name: custom\n  onnx: {other}\n  normalization: imagenet\n{noExport}");
        rig.RunOk("Ingest");
        foreach (var stage in FaultRig.Stages.Skip(1))
            Assert.DoesNotContain("up to date", rig.RunOk(stage).Output, StringComparison.Ordinal);
        Assert.NotEqual(resnet.Fingerprint, rig.Fingerprint);
        Assert.Equal(10, rig.ExtractReport["extracted"]!.GetValue<int>());
        Assert.Equal(3, rig.Head().Dimension);

        rig.WriteConfig(noExport);
        foreach (var stage in FaultRig.Stages.Skip(1))
            Assert.DoesNotContain("up to date", rig.RunOk(stage).Output, StringComparison.Ordinal);
        Assert.Equal(resnet.Fingerprint, rig.Fingerprint);
        Assert.Equal(0, rig.ExtractReport["extracted"]!.GetValue<int>());
        Assert.Equal(10, rig.ExtractReport["reused"]!.GetValue<int>());
        FaultRig.AssertSameVectors(resnet.Vectors, rig.Vectors());
        Assert.True(resnet.Head.Weights.AsSpan().SequenceEqual(rig.Head().Weights), "the resnet head retrained to different weights");
        Assert.Equal(2, Directory.GetDirectories(rig.CacheDir).Length);
    }
}
