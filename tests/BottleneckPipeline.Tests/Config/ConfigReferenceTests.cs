using BottleneckPipeline.Config;

namespace BottleneckPipeline.Tests.Config;

/// <summary>docs/config-reference.md is generated from the config's definitions and must match them.</summary>
public class ConfigReferenceTests
{
    private static string ReferencePath => Path.Combine(RepoPaths.Root, ConfigReference.FilePath);

    [Fact]
    public void The_reference_in_docs_is_the_one_the_definitions_generate()
    {
        var expected = ConfigReference.Markdown();
        var actual = File.Exists(ReferencePath) ? File.ReadAllText(ReferencePath) : "";
        if (actual == expected) return;
        var (want, have) = (expected.Split('\n'), actual.Split('\n'));
        var line = Enumerable.Range(0, Math.Max(want.Length, have.Length)).First(i => i >= want.Length || i >= have.Length || want[i] != have[i]);
        string At(string[] lines) => line < lines.Length ? lines[line] : "(end)";
        Assert.Fail($"{ConfigReference.FilePath} is out of date with shared/Core/Config/PipelineConfig.cs: " +
                    "run `make config-reference` and commit the result.\n" +
                    $"First difference, line {line + 1}:\n  generated: {At(want)}\n  in docs/:  {At(have)}");
    }

    [Fact]
    public void The_reference_has_a_row_with_a_meaning_for_every_key_the_loader_accepts()
    {
        var markdown = ConfigReference.Markdown();
        var keys = ConfigReference.Keys().ToList();
        Assert.Equal(59, keys.Count(k => !k.IsSection)); // 61 before mixup and ema went; a new key changes this on purpose
        Assert.All(keys, k => Assert.False(string.IsNullOrWhiteSpace(k.Doc?.Meaning), $"'{k.Path}' has no [Doc]"));
        Assert.All(keys, k => Assert.Contains(k.IsSection && !k.Path.Contains('.') ? $"## `{k.Path}`\n" : $"| `{k.Path}` |", markdown));
        Assert.Contains("| `extract.threads` | `0` | whole number, 0 to 256 | *Speed only.*", markdown);
        Assert.Contains("| `fine_tune.trainable` | `last-stage` | `last-stage`, `last-2-stages`, `all` |", markdown);
        Assert.Contains("| `fine_tune.learning_rate` | by depth: 0.01, or 0.003 with trainable: all |", markdown);
    }

    [Fact]
    public void Ingest_config_reference_prints_the_reference()
    {
        var run = StageProcess.Run("Ingest", "config-reference");
        Assert.True(run.ExitCode == 0, run.Output);
        Assert.Equal(ConfigReference.Markdown(), run.StdOut);
    }
}
