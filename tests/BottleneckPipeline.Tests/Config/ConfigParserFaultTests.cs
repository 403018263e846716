using BottleneckPipeline.Config;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Config;

/// <summary>Faults of reading a config file: where a tab is, nesting too deep to parse, a config inside its dataset.</summary>
public class ConfigParserFaultTests
{
    private static string Error(string yaml, string source = "/cfg/pipeline.yaml") =>
        Assert.Throws<ConfigException>(() => ConfigLoader.Parse(yaml, source)).Message;

    [Theory]
    [InlineData("dataset:\n\troot: photos\n", "/cfg/pipeline.yaml:2:1:")]
    [InlineData("dataset:\n  root: photos\ntrain_head:\n  steps: 10\n\tseed: 3\n", "/cfg/pipeline.yaml:5:1:")]
    [InlineData("dataset:\n  root: photos\n  \ttest_percent: 5\n", "/cfg/pipeline.yaml:3:3:")]
    public void A_tab_in_the_indentation_is_reported_on_its_own_line_and_column(string yaml, string at)
    {
        var msg = Error(yaml);
        Assert.Contains(at, msg);
        Assert.Contains("tab", msg);
        Assert.Contains("spaces", msg);
    }

    [Fact]
    public void A_tab_inside_a_value_is_still_allowed()
    {
        Assert.Equal("a\tb", ConfigLoader.Parse("dataset:\n  root: photos\n  split_salt: \"a\\tb\"\n", "/cfg/pipeline.yaml").Dataset.SplitSalt);
    }

    [Theory]
    [InlineData("flow")]
    [InlineData("block")]
    public void Nesting_deeper_than_any_config_is_refused_with_its_line(string form)
    {
        const int depth = 300;
        var yaml = form == "flow"
            ? "dataset:\n  root: photos\nbackbone:\n  mean: " + new string('[', depth) + new string(']', depth) + "\n"
            : "dataset:\n  root: photos\nextract:\n" + string.Concat(Enumerable.Range(1, depth).Select(i => new string(' ', 2 * i) + "a:\n"));
        var msg = Error(yaml);
        Assert.Contains(form == "flow" ? "/cfg/pipeline.yaml:4:" : "/cfg/pipeline.yaml:", msg);
        Assert.Contains("nested more than", msg);
    }

    [Fact]
    public void Fifty_thousand_levels_are_exit_2_naming_the_file_and_line_not_a_stack_overflow()
    {
        using var t = new TempDir();
        var config = t["deep.yaml"];
        File.WriteAllText(config, "dataset:\n  root: photos\nbackbone:\n  mean: " + new string('[', 50_000) + new string(']', 50_000) + "\n");
        var run = StageProcess.Run("Ingest", "--config", config);
        Assert.True(run.ExitCode == 2, $"exit {run.ExitCode}:\n{run.Output[..Math.Min(run.Output.Length, 2000)]}");
        Assert.Contains($"{config}:4:", run.StdErr);
        Assert.Contains("nested more than", run.StdErr);
    }

    [Fact]
    public void A_config_inside_its_dataset_folder_gets_advice_that_works()
    {
        // The config sits in the dataset folder, so the default workspace beside it is inside the dataset.
        var msg = Error("dataset:\n  root: .\n", "/data/photos/pipeline.yaml");
        Assert.Contains("/data/photos/pipeline.yaml: key 'workspace' = '/data/photos/workspace' is inside dataset.root", msg);
        Assert.Contains("move the config file out of the dataset folder", msg);
        Assert.Contains("workspace: ../photos-workspace", msg); // a folder outside dataset.root, as the config would say it
        Assert.DoesNotContain("beside the config (for example 'workspace')", msg);
        // And the advice works: that workspace is accepted.
        var fixedConfig = ConfigLoader.Parse("dataset:\n  root: .\nworkspace: ../photos-workspace\n", "/data/photos/pipeline.yaml");
        Assert.Equal("/data/photos-workspace", fixedConfig.Workspace);
    }

    [Fact]
    public void A_config_in_a_class_folder_gets_an_example_outside_the_dataset_too()
    {
        var msg = Error("dataset:\n  root: ..\n", "/data/photos/daisy/pipeline.yaml");
        Assert.Contains("workspace: ../../photos-workspace", msg);
    }
}
