using BottleneckPipeline.Config;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Config;

public class ConfigLoaderTests
{
    private static PipelineConfig Parse(string yaml, string source = "/cfg/pipeline.yaml") => ConfigLoader.Parse(yaml, source);

    private static string Error(string yaml) => Assert.Throws<ConfigException>(() => Parse(yaml)).Message;

    [Fact]
    public void Only_dataset_root_is_valid_and_every_other_key_defaults()
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
    public void Absolute_paths_stay_and_relative_ones_resolve_against_the_config_folder()
    {
        var c = Parse("dataset: { root: /data/x }\nworkspace: ../ws\ncache: { dir: shared-cache }\n", "/a/b/p.yaml");
        Assert.Equal("/data/x", c.Dataset.Root);
        Assert.Equal("/a/ws", c.Workspace);
        Assert.Equal("/a/b/shared-cache", c.CacheDir);
    }

    [Fact]
    public void Unknown_key_is_named_with_its_line()
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
    public void Unknown_key_suggests_the_nearest_known_one(string yaml, string key, string suggestion)
    {
        var msg = Error(yaml.StartsWith("dataset:", StringComparison.Ordinal) ? yaml : "dataset: { root: x }\n" + yaml);
        Assert.Contains($"unknown key '{key}'", msg);
        Assert.Contains($"did you mean '{suggestion}'?", msg);
    }

    [Fact]
    public void An_unknown_key_far_from_every_known_one_gets_no_guess()
    {
        var msg = Error("dataset: { root: x }\nextract:\n  colour_space: rgb\n");
        Assert.Contains("unknown key 'extract.colour_space'", msg);
        Assert.DoesNotContain("did you mean", msg);
        Assert.Contains("resize", msg); // the known keys are still listed
    }

    [Fact]
    public void Wrong_type_is_named_with_its_line()
    {
        var msg = Error("dataset:\n  root: x\ntrain_head:\n  batch_size: lots\n");
        Assert.Contains("pipeline.yaml:4", msg);
        Assert.Contains("'train_head.batch_size'", msg);
        Assert.Contains("whole number", msg);
    }

    [Fact]
    public void No_test_split_with_export_on_is_refused_at_its_line()
    {
        var msg = Error("dataset:\n  root: x\n  test_percent: 0\n");
        Assert.Contains("/cfg/pipeline.yaml:3: key 'dataset.test_percent' = 0", msg);
        Assert.Contains("evaluate.export: false", msg);
        // Without the export there is nothing to check on the test split: allowed.
        Assert.Equal(0, Parse("dataset:\n  root: x\n  test_percent: 0\nevaluate:\n  export: false\n").Dataset.TestPercent);
    }

    [Fact]
    public void Out_of_range_is_named_with_its_line_and_bounds()
    {
        var msg = Error("dataset:\n  root: x\n  test_percent: 150\n");
        Assert.Contains("pipeline.yaml:3", msg);
        Assert.Contains("'dataset.test_percent'", msg);
        Assert.Contains("between 0 and 90", msg);
    }

    [Fact]
    public void Bad_enum_lists_the_choices()
    {
        var msg = Error("dataset: { root: x }\nbackbone:\n  name: vgg\n");
        Assert.Contains("resnet18, inception-v3, custom", msg);
    }

    [Fact]
    public void Enums_accept_kebab_case()
    {
        var c = Parse("dataset: { root: x }\nbackbone: { name: inception-v3, onnx: m.onnx }\nextract: { resize: center-crop }\n");
        Assert.Equal(BackboneName.InceptionV3, c.Backbone.Name);
        Assert.Equal(ResizeMode.CenterCrop, c.Extract.Resize);
    }

    [Fact]
    public void Missing_root_and_other_errors_are_all_reported_at_once()
    {
        var msg = Error("dataset:\n  test_percent: -1\nbogus: 1\n");
        Assert.Contains("dataset.root", msg);
        Assert.Contains("dataset.test_percent", msg);
        Assert.Contains("unknown key 'bogus'", msg);
    }

    [Fact]
    public void Inception_without_an_ONNX_file_is_an_error()
    {
        Assert.Contains("backbone.onnx", Error("dataset: { root: x }\nbackbone: { name: inception-v3 }\n"));
    }

    [Fact]
    public void Invalid_YAML_names_the_line()
    {
        var msg = Error("dataset:\n  root: [unclosed\n");
        Assert.Contains("pipeline.yaml:", msg);
        Assert.Contains("not valid YAML", msg);
    }

    [Fact]
    public void Invalid_group_pattern_is_an_error()
    {
        Assert.Contains("group_pattern", Error("dataset: { root: x, group_pattern: '(' }\n"));
    }

    [Fact]
    public void Section_hashes_change_only_for_the_edited_section()
    {
        var a = Parse("dataset: { root: x }\n");
        var b = Parse("dataset: { root: x }\ntrain_head: { seed: 7 }\n");
        Assert.Equal(a.SectionHashes["dataset"], b.SectionHashes["dataset"]);
        Assert.Equal(a.SectionHashes["backbone"], b.SectionHashes["backbone"]);
        Assert.NotEqual(a.SectionHashes["train_head"], b.SectionHashes["train_head"]);
    }

    [Fact]
    public void Dataset_exclude_resolves_against_the_config_folder_and_stays_out_of_the_dataset_hash()
    {
        using var t = new TempDir();
        var source = t["pipeline.yaml"];
        File.WriteAllText(t["exclude.txt"], "daisy/1.jpg\n");
        var without = ConfigLoader.Parse("dataset: { root: photos }\n", source);
        var with = ConfigLoader.Parse("dataset:\n  root: photos\n  exclude: exclude.txt\n", source);
        Assert.Null(without.Dataset.Exclude);
        Assert.Equal(t["exclude.txt"], with.Dataset.Exclude);
        // Ingest and Extract hash the dataset section: the list is hashed by the stages that read the splits, by the images it names.
        Assert.Equal(without.SectionHashes["dataset"], with.SectionHashes["dataset"]);
    }

    [Theory]
    [InlineData("  exclude: nowhere.txt\n", "names /cfg/nowhere.txt, which does not exist")]
    [InlineData("  exclude: /\n", "names /, which is a folder, not a file")]
    [InlineData("  exclude: ''\n", "key 'dataset.exclude' must not be empty")]
    public void An_exclude_list_that_cannot_be_read_is_a_config_error_naming_the_key(string line, string problem)
    {
        var msg = Error("dataset:\n  root: photos\n" + line);
        Assert.Contains("/cfg/pipeline.yaml:3: key 'dataset.exclude'", msg);
        Assert.Contains(problem, msg);
    }

    [Theory]
    [InlineData("dataset: { root: photos }\nworkspace: .\n", "contains dataset.root")]
    [InlineData("dataset: { root: photos }\nworkspace: photos\n", "is dataset.root itself")]
    [InlineData("dataset: { root: photos }\nworkspace: photos/daisy/ws\n", "is inside dataset.root")]
    [InlineData("dataset: { root: /data/photos }\nworkspace: .\n", "is the config file's folder")]
    [InlineData("dataset: { root: /data/photos }\nworkspace: /\n", "contains dataset.root")]
    public void A_workspace_around_the_dataset_or_the_config_is_refused_with_its_line(string yaml, string problem)
    {
        var msg = Error(yaml);
        Assert.Contains("/cfg/pipeline.yaml:2: key 'workspace'", msg);
        Assert.Contains(problem, msg);
        Assert.Contains("a folder of its own", msg);
    }

    [Fact]
    public void A_workspace_holding_the_config_folder_is_refused()
    {
        var msg = Assert.Throws<ConfigException>(() => Parse("dataset: { root: /data/photos }\nworkspace: ..\n", "/a/b/pipeline.yaml")).Message;
        Assert.Contains("/a/b/pipeline.yaml:2: key 'workspace' = '/a' contains the config file's folder", msg);
    }

    [Fact]
    public void A_default_workspace_around_the_dataset_is_refused_too()
    {
        var msg = Error("dataset: { root: workspace/photos }\n");
        Assert.Contains("/cfg/pipeline.yaml: key 'workspace' = '/cfg/workspace' contains dataset.root", msg);
    }

    [Fact]
    public void A_workspace_beside_the_dataset_and_config_is_fine()
    {
        var c = Parse("dataset: { root: photos }\nworkspace: ws\ncache: { dir: . }\n");
        Assert.Equal("/cfg/ws", c.Workspace);
    }

    [Fact]
    public void A_link_cannot_hide_a_workspace_that_is_the_config_folder()
    {
        using var t = new TempDir();
        Directory.CreateDirectory(t["project"]);
        Directory.CreateSymbolicLink(t["alias"], t["project"]);
        var msg = Assert.Throws<ConfigException>(() =>
            ConfigLoader.Parse($"dataset: {{ root: /data/photos }}\nworkspace: {t["alias"]}\n", t["project/pipeline.yaml"])).Message;
        Assert.Contains("is the config file's folder", msg);
    }

    [Theory]
    [InlineData("workspace:\n")]
    [InlineData("workspace: ~\n")]
    [InlineData("workspace: ''\n")]
    [InlineData("workspace: '  '\n")]
    public void An_empty_workspace_is_a_config_error_with_its_line(string line)
    {
        var msg = Error("dataset: { root: photos }\n" + line);
        Assert.Contains("/cfg/pipeline.yaml:2: key 'workspace'", msg);
        Assert.Contains("must not be empty", msg);
        Assert.Single(msg.Split('\n'), l => l.Contains("'workspace'")); // one error, not two
    }

    [Fact]
    public void An_empty_required_root_is_one_error_with_its_line()
    {
        var msg = Error("dataset:\n  root:\n");
        Assert.Contains("/cfg/pipeline.yaml:2: key 'dataset.root' must not be empty", msg);
        Assert.Single(msg.Split('\n'), l => l.Contains("'dataset.root'"));
    }

    [Fact]
    public void An_empty_text_key_with_an_empty_default_is_empty_text_and_an_empty_number_is_an_error()
    {
        Assert.Equal("", Parse("dataset:\n  root: photos\n  split_salt:\n").Dataset.SplitSalt);
        var msg = Error("dataset: { root: photos }\ntrain_head:\n  batch_size:\n");
        Assert.Contains("/cfg/pipeline.yaml:3: key 'train_head.batch_size' = '': must not be empty; " +
                        "give it a value, or remove the key for its default ('64')", msg);
    }

    [Theory]
    [InlineData("fine_tune:\n  trainable: layer4\n",
        "/cfg/pipeline.yaml:3: key 'fine_tune.trainable' = 'layer4': must be one of: last-stage, last-2-stages, all")]
    [InlineData("fine_tune:\n  augment:\n    crop_scale: [0.9, 0.5]\n",
        "/cfg/pipeline.yaml:4: key 'fine_tune.augment.crop_scale' must be two numbers [min, max]")]
    [InlineData("fine_tune:\n  augment:\n    crop_scale: [0, 1]\n", "/cfg/pipeline.yaml:4: key 'fine_tune.augment.crop_scale'")]
    [InlineData("fine_tune:\n  augment:\n    views: 0\n", "/cfg/pipeline.yaml:4: key 'fine_tune.augment.views' = '0' is out of range")]
    [InlineData("fine_tune:\n  schedule: step\n", "/cfg/pipeline.yaml:3: key 'fine_tune.schedule' = 'step': must be one of: cosine, constant")]
    [InlineData("fine_tune:\n  optimizer: lbfgs\n", "/cfg/pipeline.yaml:3: key 'fine_tune.optimizer' = 'lbfgs': must be one of: sgd, rmsprop, adam")]
    [InlineData("fine_tune:\n  learning_rate: 0\n", "/cfg/pipeline.yaml:3: key 'fine_tune.learning_rate' = '0' is out of range")]
    [InlineData("fine_tune:\n  epoch: 3\n", "did you mean 'epochs'")]
    public void A_bad_fine_tune_value_names_its_key_and_line(string section, string expected)
    {
        Assert.Contains(expected, Error("dataset: { root: x }\n" + section));
    }

    [Theory]
    [InlineData("last-stage", TrainablePart.LastStage)]
    [InlineData("last-2-stages", TrainablePart.LastTwoStages)]
    [InlineData("last_2_stages", TrainablePart.LastTwoStages)]
    [InlineData("all", TrainablePart.All)]
    public void Trainable_is_an_enum_spelled_as_documented(string text, TrainablePart expected)
    {
        var c = Parse($"dataset: {{ root: x }}\nfine_tune:\n  trainable: {text}\n").FineTune;
        Assert.Equal(expected, c.Trainable);
        Assert.Equal(text.Replace('_', '-'), ConfigLoader.ValueName(c.Trainable));
    }

    [Theory]
    [InlineData("last-two-stages", "must be one of: last-stage, last-2-stages, all")]
    [InlineData("ALL", "must be one of: last-stage, last-2-stages, all")]
    [InlineData("", "must not be empty; give it a value, or remove the key for its default ('last-stage')")]
    public void A_bad_trainable_is_an_error_naming_the_key_the_line_and_the_allowed_values(string value, string why)
    {
        var msg = Error($"dataset: {{ root: x }}\nfine_tune:\n  epochs: 2\n  trainable: {value}\n");
        Assert.Contains($"/cfg/pipeline.yaml:4: key 'fine_tune.trainable' = '{value}': {why}", msg);
    }

    [Fact]
    public void Every_enum_value_is_spelled_one_way_that_parses_back_to_it()
    {
        foreach (var type in typeof(PipelineConfig).Assembly.GetTypes().Where(t => t.IsEnum && t.Namespace == typeof(PipelineConfig).Namespace))
        {
            var names = ConfigLoader.ValueNames(type).ToList();
            Assert.Equal(names.Count, names.Distinct().Count());
            Assert.All(names, n => Assert.Matches("^[a-z0-9]+(-[a-z0-9]+)*$", n));
        }
        Assert.Equal(["last-stage", "last-2-stages", "all"], ConfigLoader.ValueNames(typeof(TrainablePart)));
        Assert.Equal("inception-v3", ConfigLoader.ValueName(BackboneName.InceptionV3));
    }

    [Fact]
    public void Fine_tune_defaults_are_the_documented_ones_and_enabled_does_not_change_the_other_keys()
    {
        var c = Parse("dataset: { root: x }\nfine_tune:\n  trainable: all\n  augment: { crop_scale: [0.25, 1], views: 2 }\n").FineTune;
        Assert.Equal((TrainablePart.All, 8, 32, OptimizerName.Sgd, 0.003, LearningRateSchedule.Cosine),
            (c.Trainable, c.Epochs, c.BatchSize, c.Optimizer, c.PeakLearningRate, c.Schedule));
        Assert.Null(c.LearningRate);
        Assert.Equal([0.25, 1.0], c.Augment.CropScale);
        Assert.Equal(2, c.Augment.Views);
        Assert.False(c.Enabled);
        Assert.True(c.Augment.Flip);
    }
}
