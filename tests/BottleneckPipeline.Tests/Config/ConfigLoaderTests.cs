using BottleneckPipeline.Config;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Tests.Config;

public class ConfigLoaderTests
{
    private static PipelineConfig Parse(string yaml, string source = "/cfg/pipeline.yaml") => ConfigLoader.Parse(yaml, source);

    private static string Error(string yaml) => Assert.Throws<ConfigException>(() => Parse(yaml)).Message;

    [Fact]
    public void OnlyDatasetRootIsValidAndEveryOtherKeyDefaults()
    {
        var c = Parse("dataset:\n  root: photos\n");
        Assert.Equal("/cfg/photos", c.Dataset.Root);
        Assert.Equal("/cfg/workspace", c.Workspace);
        Assert.Equal(10, c.Dataset.ValidationPercent);
        Assert.Equal(10, c.Dataset.TestPercent);
        Assert.Equal(50_000_000, c.Dataset.MaxPixels);
        Assert.Equal(BackboneName.Resnet18, c.Backbone.Name);
        Assert.Equal("/cfg/workspace/cache", c.CacheDir);
    }

    [Fact]
    public void AbsolutePathsStayAndRelativeOnesResolveAgainstTheConfigFolder()
    {
        var c = Parse("dataset: { root: /data/x }\nworkspace: ../ws\ncache: { dir: shared-cache }\n", "/a/b/p.yaml");
        Assert.Equal("/data/x", c.Dataset.Root);
        Assert.Equal("/a/ws", c.Workspace);
        Assert.Equal("/a/b/shared-cache", c.CacheDir);
    }

    [Fact]
    public void UnknownKeyIsNamedWithItsLine()
    {
        var msg = Error("dataset:\n  root: x\n  validaton_percent: 5\n");
        Assert.Contains("pipeline.yaml:3", msg);
        Assert.Contains("unknown key 'dataset.validaton_percent'", msg);
        Assert.Contains("validation_percent", msg); // the known keys are listed
    }

    [Theory]
    [InlineData("train_head:\n  optimiser: adam\n", "train_head.optimiser", "optimizer")]
    [InlineData("dataset:\n  root: x\n  validaton_percent: 5\n", "dataset.validaton_percent", "validation_percent")]
    [InlineData("extract:\n  treads: 2\n", "extract.treads", "threads")]
    [InlineData("trian_head:\n  steps: 5\n", "trian_head", "train_head")]
    [InlineData("extract:\n  batchsize: 2\n", "extract.batchsize", "batch_size")]
    public void UnknownKeySuggestsTheNearestKnownOne(string yaml, string key, string suggestion)
    {
        var msg = Error(yaml.StartsWith("dataset:", StringComparison.Ordinal) ? yaml : "dataset: { root: x }\n" + yaml);
        Assert.Contains($"unknown key '{key}'", msg);
        Assert.Contains($"did you mean '{suggestion}'?", msg);
    }

    [Fact]
    public void AnUnknownKeyFarFromEveryKnownOneGetsNoGuess()
    {
        var msg = Error("dataset: { root: x }\nextract:\n  colour_space: rgb\n");
        Assert.Contains("unknown key 'extract.colour_space'", msg);
        Assert.DoesNotContain("did you mean", msg);
        Assert.Contains("resize", msg); // the known keys are still listed
    }

    [Fact]
    public void WrongTypeIsNamedWithItsLine()
    {
        var msg = Error("dataset:\n  root: x\ntrain_head:\n  batch_size: lots\n");
        Assert.Contains("pipeline.yaml:4", msg);
        Assert.Contains("'train_head.batch_size'", msg);
        Assert.Contains("whole number", msg);
    }

    [Fact]
    public void OutOfRangeIsNamedWithItsLineAndBounds()
    {
        var msg = Error("dataset:\n  root: x\n  test_percent: 150\n");
        Assert.Contains("pipeline.yaml:3", msg);
        Assert.Contains("'dataset.test_percent'", msg);
        Assert.Contains("between 0 and 90", msg);
    }

    [Fact]
    public void BadEnumListsTheChoices()
    {
        var msg = Error("dataset: { root: x }\nbackbone:\n  name: vgg\n");
        Assert.Contains("resnet18, inception-v3, custom", msg);
    }

    [Fact]
    public void EnumsAcceptKebabCase()
    {
        var c = Parse("dataset: { root: x }\nbackbone: { name: inception-v3, onnx: m.onnx }\nextract: { resize: center-crop }\n");
        Assert.Equal(BackboneName.InceptionV3, c.Backbone.Name);
        Assert.Equal(ResizeMode.CenterCrop, c.Extract.Resize);
    }

    [Fact]
    public void MissingRootAndOtherErrorsAreAllReportedAtOnce()
    {
        var msg = Error("dataset:\n  test_percent: -1\nbogus: 1\n");
        Assert.Contains("dataset.root", msg);
        Assert.Contains("dataset.test_percent", msg);
        Assert.Contains("unknown key 'bogus'", msg);
    }

    [Fact]
    public void InceptionWithoutOnnxFileIsAnError()
    {
        Assert.Contains("backbone.onnx", Error("dataset: { root: x }\nbackbone: { name: inception-v3 }\n"));
    }

    [Fact]
    public void InvalidYamlNamesTheLine()
    {
        var msg = Error("dataset:\n  root: [unclosed\n");
        Assert.Contains("pipeline.yaml:", msg);
        Assert.Contains("not valid YAML", msg);
    }

    [Fact]
    public void InvalidGroupPatternIsAnError()
    {
        Assert.Contains("group_pattern", Error("dataset: { root: x, group_pattern: '(' }\n"));
    }

    [Fact]
    public void SectionHashesChangeOnlyForTheEditedSection()
    {
        var a = Parse("dataset: { root: x }\n");
        var b = Parse("dataset: { root: x }\ntrain_head: { seed: 7 }\n");
        Assert.Equal(a.SectionHashes["dataset"], b.SectionHashes["dataset"]);
        Assert.Equal(a.SectionHashes["backbone"], b.SectionHashes["backbone"]);
        Assert.NotEqual(a.SectionHashes["train_head"], b.SectionHashes["train_head"]);
    }

    [Fact]
    public void EveryKeyIsDocumentedInTheDefaultPipelineYaml()
    {
        var text = File.ReadAllText(Path.Combine(RepoPaths.Root, "pipeline.yaml"));
        var missing = new List<string>();
        foreach (var (key, prop) in ConfigLoader.Keys(typeof(PipelineConfig)))
        {
            var sub = ConfigLoader.Keys(prop.PropertyType).ToList();
            if (prop.PropertyType.IsClass && prop.PropertyType != typeof(string))
            {
                if (!text.Contains(key + ":")) missing.Add(key);
                missing.AddRange(sub.Where(s => !text.Contains(s.Key + ":")).Select(s => key + "." + s.Key));
            }
            else if (!text.Contains(key + ":")) missing.Add(key);
        }
        Assert.Empty(missing);
        // And the shipped file itself is valid.
        var c = ConfigLoader.Load(Path.Combine(RepoPaths.Root, "pipeline.yaml"));
        Assert.EndsWith(Path.Combine("shared", "datasets", "flower_photos"), c.Dataset.Root);
    }
}
