using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using BottleneckPipeline.Runtime;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace BottleneckPipeline.Config;

/// <summary>
/// Reads pipeline.yaml into <see cref="PipelineConfig"/> and validates it before any work is done.
/// Every problem (unknown key, wrong type, value out of range) is reported with its key and line,
/// all at once, so one edit fixes them all.
/// </summary>
public static class ConfigLoader
{
    public static PipelineConfig Load(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        if (!File.Exists(full))
            throw new ConfigException($"config file not found: {full}. Pass --config FILE, or create pipeline.yaml with at least 'dataset: {{ root: PATH }}'.");
        return Parse(File.ReadAllText(full), full);
    }

    public static PipelineConfig Parse(string yaml, string sourcePath)
    {
        var errors = new List<string>();
        var config = new PipelineConfig { SourcePath = sourcePath };
        var stream = new YamlStream();
        try
        {
            CheckDepth(yaml, sourcePath);
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException e)
        {
            var why = e.InnerException?.Message ?? e.Message;
            if (why.Contains("tab", StringComparison.OrdinalIgnoreCase) && IndentationTab(yaml, e.Start.Line) is var (line, column))
                throw new ConfigException($"{sourcePath}:{line}:{column}: a tab in the indentation: YAML indents with spaces only " +
                                          "(replace the tab with spaces)");
            throw new ConfigException($"{sourcePath}:{e.Start.Line}: not valid YAML: {why}");
        }

        var root = stream.Documents.Count == 0 ? null : stream.Documents[0].RootNode;
        var lines = new Dictionary<string, long>(StringComparer.Ordinal);
        if (root is YamlMappingNode map) Bind(map, config, "", sourcePath, errors, lines);
        else if (root is not null && !(root is YamlScalarNode { Value: null or "" }))
            errors.Add($"{sourcePath}:{root.Start.Line}: the file must be a mapping of keys (like 'dataset:'), not a {root.NodeType}");

        var baseDir = System.IO.Path.GetDirectoryName(sourcePath)!;
        RequireText("dataset.root", config.Dataset.Root, "the folder of class subfolders", sourcePath, lines, errors);
        RequireText("workspace", config.Workspace, "a folder of its own for the pipeline's files, or remove the key for the default 'workspace'",
            sourcePath, lines, errors);
        CheckCrossKey(config, sourcePath, errors, lines);
        if (errors.Count > 0)
            throw new ConfigException("invalid config:\n  " + string.Join("\n  ", errors));

        ResolvePaths(config, baseDir);
        CheckWorkspacePlace(config, sourcePath, lines, errors);
        CheckExcludeFile(config, sourcePath, lines, errors);
        if (errors.Count > 0)
            throw new ConfigException("invalid config:\n  " + string.Join("\n  ", errors));
        config.SectionHashes = HashSections(config);
        return config;
    }

    /// <summary>Deeper than any config goes (fine_tune: augment: crop_scale: [..] is 4 levels), far short of what recursion can take.</summary>
    public const int MaxDepth = 32;

    /// <summary>
    /// Refuses nesting deeper than <see cref="MaxDepth"/> before YamlStream builds its nodes, which
    /// recurses once per level (50,000 levels overflowed the stack and aborted the process). The
    /// event parser used here keeps its own stack, so it goes through any depth without recursing.
    /// </summary>
    private static void CheckDepth(string yaml, string source)
    {
        var parser = new Parser(new StringReader(yaml));
        var depth = 0;
        while (parser.MoveNext())
        {
            switch (parser.Current)
            {
                case MappingStart or SequenceStart when ++depth > MaxDepth:
                    var at = parser.Current!.Start;
                    throw new ConfigException($"{source}:{at.Line}:{at.Column}: the YAML is nested more than {MaxDepth} levels deep here; " +
                                              "a config needs at most 4 (fine_tune: augment: crop_scale: [min, max])");
                case MappingEnd or SequenceEnd:
                    depth--;
                    break;
            }
        }
    }

    /// <summary>The line and column (both from 1) of the first tab in a line's indentation, from line <paramref name="fromLine"/> on.</summary>
    private static (long Line, int Column)? IndentationTab(string yaml, long fromLine)
    {
        var lines = yaml.Split('\n');
        for (var i = (int)Math.Max(fromLine - 1, 0); i < lines.Length; i++)
        {
            var indentation = lines[i].Length - lines[i].TrimStart(' ', '\t').Length;
            var tab = lines[i].IndexOf('\t', 0, indentation);
            if (tab >= 0) return (i + 1, tab + 1);
        }
        return null;
    }

    /// <summary>A text key that must hold something: absent (when it has no default), or empty or blank, is an error with its line.</summary>
    private static void RequireText(string key, string value, string what, string source, IReadOnlyDictionary<string, long> lines, List<string> errors)
    {
        if (!string.IsNullOrWhiteSpace(value)) return;
        errors.Add(lines.TryGetValue(key, out var line)
            ? $"{source}:{line}: key '{key}' must not be empty: give {what}"
            : $"{source}: key '{key}' is required: {what}");
    }

    /// <summary>
    /// The workspace is the pipeline's own folder: stages write into it and `make clean` empties it
    /// of their files. Around the dataset or the config (workspace: . beside them, say) it would mix
    /// the pipeline's files with the user's; inside dataset.root, Ingest would read it as a class.
    /// Compared both as written and with links resolved, so a link cannot hide the overlap.
    /// </summary>
    private static void CheckWorkspacePlace(PipelineConfig c, string source, IReadOnlyDictionary<string, long> lines, List<string> errors)
    {
        var at = lines.TryGetValue("workspace", out var line) ? $"{source}:{line}" : source;
        var configDir = System.IO.Path.GetDirectoryName(source)!;
        bool Inside(string path, string folder) =>
            RealPath.IsSameOrInside(path, folder) || RealPath.IsSameOrInside(RealPath.Canonical(path), RealPath.Canonical(folder));
        var problem =
            Inside(c.Dataset.Root, c.Workspace) ? (Inside(c.Workspace, c.Dataset.Root) ? "is dataset.root itself" : "contains dataset.root") :
            Inside(c.Workspace, c.Dataset.Root) ? "is inside dataset.root, where Ingest would take it for a class folder" :
            Inside(configDir, c.Workspace) ? (Inside(c.Workspace, configDir) ? "is the config file's folder" : "contains the config file's folder") :
            null;
        if (problem is null) return;
        var what = $"{at}: key 'workspace' = '{c.Workspace}' {problem}; the pipeline writes its files there and `make clean` removes them, " +
                   "so it needs a folder of its own. ";
        if (!Inside(configDir, c.Dataset.Root))
        {
            errors.Add(what + "Set workspace to a new folder beside the config (for example 'workspace'), outside dataset.root.");
            return;
        }
        // The config sits inside the dataset, so every folder beside it (the default 'workspace' too) is inside the dataset.
        var root = c.Dataset.Root;
        var outside = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(root) ?? root, System.IO.Path.GetFileName(root) + "-workspace");
        errors.Add(what + "The config file is inside dataset.root, so no folder beside it will do: move the config file out of the dataset folder, " +
                   $"or set workspace to a folder outside dataset.root, for example " +
                   $"'workspace: {System.IO.Path.GetRelativePath(configDir, outside)}' ({outside}).");
    }

    /// <summary>dataset.exclude names a file that must be there: a list that cannot be read would train on what it meant to leave out.</summary>
    private static void CheckExcludeFile(PipelineConfig c, string source, IReadOnlyDictionary<string, long> lines, List<string> errors)
    {
        if (c.Dataset.Exclude is not { } file || File.Exists(file)) return;
        var at = lines.TryGetValue("dataset.exclude", out var line) ? $"{source}:{line}" : source;
        errors.Add($"{at}: key 'dataset.exclude' names {file}, which {(Directory.Exists(file) ? "is a folder, not a file" : "does not exist")}. " +
                   "Give the path (relative to the config file) of a text file with one image a line (a path relative to dataset.root, or a content id), " +
                   "or remove the key to leave nothing out");
    }

    /// <param name="lines">The line of each key the file sets, so a rule between keys can point at one.</param>
    private static void CheckCrossKey(PipelineConfig c, string source, List<string> errors, Dictionary<string, long> lines)
    {
        string At(string key) => lines.TryGetValue(key, out var line) ? $"{source}:{line}" : source;
        if (c.Dataset.TestPercent == 0 && c.Evaluate.Export)
            errors.Add($"{At("dataset.test_percent")}: key 'dataset.test_percent' = 0 leaves no test split, " +
                       "but 'evaluate.export' is on and checks the exported model " +
                       "on the test images. Give test_percent a value above 0 (the default is 10), or set 'evaluate.export: false'");
        if (c.Dataset.ValidationPercent + c.Dataset.TestPercent >= 100)
            errors.Add($"{source}: 'dataset.validation_percent' + 'dataset.test_percent' must leave room for training (sum < 100)");
        if (c.Backbone.Name != BackboneName.Resnet18 && string.IsNullOrEmpty(c.Backbone.Onnx))
            errors.Add($"{source}: 'backbone.name: {Snake(c.Backbone.Name.ToString(), '-')}' needs 'backbone.onnx': the path of your ONNX model file");
        if (c.Backbone.Normalization == NormalizationPreset.Custom && (c.Backbone.Mean?.Count != 3 || c.Backbone.Std?.Count != 3))
            errors.Add($"{source}: 'backbone.normalization: custom' needs 'backbone.mean' and 'backbone.std', three numbers each (RGB, 0..1 scale)");
        if (c.Backbone.Std is { } std && std.Any(s => s <= 0))
            errors.Add($"{source}: 'backbone.std' values must be > 0");
        if (c.FineTune.Augment.CropScale is not [var low, var high] || !(low > 0 && low <= high && high <= 1))
            errors.Add($"{At("fine_tune.augment.crop_scale")}: key 'fine_tune.augment.crop_scale' must be two numbers [min, max] with 0 < min <= max <= 1 " +
                       "(the share of the image's area a crop keeps), like the default [0.5, 1.0]");
        if (c.Dataset.Exclude is { } exclude && string.IsNullOrWhiteSpace(exclude))
            errors.Add($"{At("dataset.exclude")}: key 'dataset.exclude' must not be empty: name a file of images to leave out, or remove the key");
        if (c.Dataset.GroupPattern is { } gp)
        {
            try { _ = new System.Text.RegularExpressions.Regex(gp); }
            catch (ArgumentException e) { errors.Add($"{source}: 'dataset.group_pattern' is not a valid regex: {e.Message}"); }
        }
    }

    private static void ResolvePaths(PipelineConfig c, string baseDir)
    {
        string Abs(string p) => System.IO.Path.GetFullPath(System.IO.Path.IsPathRooted(p) ? p : System.IO.Path.Combine(baseDir, p));
        c.Dataset.Root = Abs(c.Dataset.Root);
        c.Workspace = Abs(c.Workspace);
        if (c.Cache.Dir is { } d) c.Cache.Dir = Abs(d);
        if (c.Backbone.Onnx is { } o) c.Backbone.Onnx = Abs(o);
        if (c.Dataset.Exclude is { } x) c.Dataset.Exclude = Abs(x);
    }

    /// <summary>The YAML keys of a config class, as (key, property) pairs.</summary>
    public static IEnumerable<(string Key, PropertyInfo Property)> Keys(Type t) =>
        t.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite && p.GetCustomAttribute<NotAKeyAttribute>() is null)
            .Select(p => (Snake(p.Name, '_'), p));

    /// <param name="lines">Filled with the line of every key path seen, for errors found after binding.</param>
    private static void Bind(YamlMappingNode map, object target, string prefix, string source, List<string> errors, Dictionary<string, long> lines)
    {
        var keys = Keys(target.GetType()).ToDictionary(k => k.Key, k => k.Property);
        var seen = new HashSet<string>();
        foreach (var (keyNode, valueNode) in map.Children)
        {
            var name = (keyNode as YamlScalarNode)?.Value ?? "";
            var path = prefix + name;
            var line = keyNode.Start.Line;
            if (!seen.Add(name)) { errors.Add($"{source}:{line}: key '{path}' appears twice"); continue; }
            lines.TryAdd(path, line);
            if (!keys.TryGetValue(name, out var prop))
            {
                var guess = NearestKey.Find(name, keys.Keys) is { } near ? $": did you mean '{near}'?" : ".";
                errors.Add($"{source}:{line}: unknown key '{path}'{guess} Known keys here: {string.Join(", ", keys.Keys)}");
                continue;
            }
            var type = prop.PropertyType;
            if (IsSection(type))
            {
                if (valueNode is YamlScalarNode { Value: null or "" } && IsNull(valueNode)) continue; // empty section: all defaults
                if (valueNode is not YamlMappingNode sub) { errors.Add($"{source}:{line}: key '{path}' must be a section of keys"); continue; }
                Bind(sub, prop.GetValue(target)!, path + ".", source, errors, lines);
                continue;
            }
            if (TryConvert(valueNode, type, AcceptsNull(prop), out var value, out var why))
            {
                if (prop.GetCustomAttribute<RangeAttribute>() is { } range && value is not null && !InRange(value, range))
                    errors.Add($"{source}:{valueNode.Start.Line}: key '{path}' = {Show(valueNode)} is out of range; " +
                               $"it must be between {range.Min.ToString(CultureInfo.InvariantCulture)} and {range.Max.ToString(CultureInfo.InvariantCulture)}");
                else prop.SetValue(target, value);
            }
            else errors.Add($"{source}:{valueNode.Start.Line}: key '{path}' = {Show(valueNode)}: {why}" + (IsNull(valueNode) ? DefaultHint(prop) : ""));
        }
    }

    /// <summary>What to do about an empty key: remove it for its default, when it has one.</summary>
    private static string DefaultHint(PropertyInfo prop)
    {
        var fallback = prop.GetValue(Activator.CreateInstance(prop.DeclaringType!));
        return fallback is null or "" ? "; give it a value" : $"; give it a value, or remove the key for its default ('{YamlText(fallback)}')";
    }

    internal static bool IsSection(Type t) => t.IsClass && t != typeof(string) && !t.IsGenericType;

    private static bool IsNull(YamlNode n) =>
        n is YamlScalarNode s && s.Style == ScalarStyle.Plain && (s.Value is null or "" or "~" or "null" or "Null" or "NULL");

    private static string Show(YamlNode n) => n is YamlScalarNode s ? $"'{s.Value}'" : $"a {n.NodeType.ToString().ToLowerInvariant()}";

    private static readonly NullabilityInfoContext Nullability = new();

    /// <summary>Whether a key may be null: a nullable value type, or a reference type declared nullable (string? but not string).</summary>
    private static bool AcceptsNull(PropertyInfo prop)
    {
        if (prop.PropertyType.IsValueType) return Nullable.GetUnderlyingType(prop.PropertyType) is not null;
        lock (Nullability) return Nullability.Create(prop).WriteState != NullabilityState.NotNull;
    }

    internal static bool TryConvert(YamlNode node, Type type, bool nullable, out object? value, out string why)
    {
        value = null; why = "";
        var t = Nullable.GetUnderlyingType(type) ?? type;
        if (IsNull(node))
        {
            if (nullable) return true;
            if (t == typeof(string)) { value = ""; return true; } // 'key:' with nothing after it: empty text, which a required key refuses
            why = "must not be empty"; return false;
        }
        if (t == typeof(List<double>))
        {
            if (node is not YamlSequenceNode seq) { why = "must be a list of numbers, like [0.485, 0.456, 0.406]"; return false; }
            var list = new List<double>();
            foreach (var item in seq)
            {
                if (item is YamlScalarNode s && double.TryParse(s.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d)) list.Add(d);
                else { why = "must be a list of numbers"; return false; }
            }
            value = list; return true;
        }
        if (node is not YamlScalarNode scalar) { why = $"must be a single value ({Describe(t)})"; return false; }
        var text = scalar.Value ?? "";
        if (t == typeof(string)) { value = text; return true; }
        if (t == typeof(bool))
        {
            if (text is "true" or "True" or "yes") { value = true; return true; }
            if (text is "false" or "False" or "no") { value = false; return true; }
            why = "must be true or false"; return false;
        }
        if (t == typeof(int))
        {
            if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i)) { value = i; return true; }
            why = "must be a whole number"; return false;
        }
        if (t == typeof(long))
        {
            if (long.TryParse(text.Replace("_", ""), NumberStyles.Integer, CultureInfo.InvariantCulture, out var l)) { value = l; return true; }
            why = "must be a whole number"; return false;
        }
        if (t == typeof(double))
        {
            if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d)) { value = d; return true; }
            why = "must be a number"; return false;
        }
        if (t.IsEnum)
        {
            foreach (var v in Enum.GetValues(t).Cast<Enum>())
            {
                var name = ValueName(v);
                if (name == text || name.Replace('-', '_') == text) { value = v; return true; }
            }
            why = $"must be one of: {string.Join(", ", ValueNames(t))}"; return false;
        }
        why = $"unsupported type {t.Name}"; return false;
    }

    /// <summary>How the config spells an enum value: its [ConfigName], else its name in kebab-case (InceptionV3 is inception-v3).</summary>
    public static string ValueName(Enum value)
    {
        var name = value.ToString();
        return value.GetType().GetField(name)?.GetCustomAttribute<ConfigNameAttribute>()?.Name ?? Snake(name, '-');
    }

    /// <summary>Every value of an enum as the config spells it, in declaration order.</summary>
    public static IEnumerable<string> ValueNames(Type enumType) => Enum.GetValues(enumType).Cast<Enum>().Select(ValueName);

    /// <summary>A key's value as pipeline.yaml would spell it: null, true/false, numbers in invariant form,
    /// enum values by <see cref="ValueName"/>, lists in brackets.</summary>
    public static string YamlText(object? value) => value switch
    {
        null => "null",
        bool b => b ? "true" : "false",
        Enum e => ValueName(e),
        string s => s.Length == 0 ? "\"\"" : s,
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        System.Collections.IEnumerable list => "[" + string.Join(", ", list.Cast<object?>().Select(YamlText)) + "]",
        _ => value.ToString() ?? "",
    };

    private static string Describe(Type t) => t == typeof(string) ? "text" : t.IsEnum ? "one word" : "a number";

    private static bool InRange(object value, RangeAttribute r)
    {
        var d = Convert.ToDouble(value, CultureInfo.InvariantCulture);
        return d >= r.Min && d <= r.Max;
    }

    /// <summary>PascalCase to snake_case (or kebab-case): ValidationPercent → validation_percent, InceptionV3 → inception-v3.</summary>
    public static string Snake(string name, char sep)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            if (i > 0 && char.IsUpper(c))
                sb.Append(sep);
            sb.Append(char.ToLowerInvariant(c));
        }
        return sb.ToString();
    }

    /// <summary>A stable hash of each section's values (after defaults and path resolution), leaving
    /// out [SpeedOnly] settings: the hashes decide what is out of date, and those change no result. [HashedByItsStages] keys are
    /// left out too: the stages that use them hash what they mean (dataset.exclude: the images it names).</summary>
    private static Dictionary<string, string> HashSections(PipelineConfig c)
    {
        var result = new Dictionary<string, string>();
        foreach (var (key, prop) in Keys(typeof(PipelineConfig)))
        {
            var sb = new StringBuilder();
            Canonical(prop.GetValue(c), sb);
            result[key] = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString())))[..16];
        }
        return result;
    }

    private static bool InSectionHash(PropertyInfo p) =>
        p.GetCustomAttribute<SpeedOnlyAttribute>() is null && p.GetCustomAttribute<HashedByItsStagesAttribute>() is null;

    private static void Canonical(object? v, StringBuilder sb)
    {
        switch (v)
        {
            case null: sb.Append("null"); break;
            case string s: sb.Append('"').Append(s).Append('"'); break;
            case IFormattable f when v is not System.Collections.IEnumerable: sb.Append(f.ToString(null, CultureInfo.InvariantCulture)); break;
            case bool b: sb.Append(b ? "true" : "false"); break;
            case System.Collections.IEnumerable list:
                sb.Append('[');
                foreach (var item in list) { Canonical(item, sb); sb.Append(','); }
                sb.Append(']'); break;
            default:
                sb.Append('{');
                foreach (var (key, prop) in Keys(v.GetType()).Where(k => InSectionHash(k.Property)))
                {
                    sb.Append(key).Append(':');
                    Canonical(prop.GetValue(v), sb);
                    sb.Append(';');
                }
                sb.Append('}'); break;
        }
    }
}
