// FineTune stage: trains the backbone's last part with the head, from the prefix cache. The work is
// beside this file (FineTuneStage); this file parses arguments.
using System.CommandLine;
using BottleneckPipeline.Config;
using BottleneckPipeline.FineTune;
using BottleneckPipeline.Hosting;
using BottleneckPipeline.Runtime;

var configOption = StageHost.ConfigOption();
var whenEnabled = new Option<bool>("--when-enabled")
{
    Description = "Do nothing (and write nothing) unless fine_tune.enabled is true: how plain `make` calls it.",
};
var command = new RootCommand("Fine-tune the backbone's last part with the head (the optional FineTune stage).") { configOption, whenEnabled };
command.SetAction(parse =>
{
    var configPath = parse.GetValue(configOption)!;
    if (parse.GetValue(whenEnabled))
    {
        var off = false;
        var code = StageHost.Guard("fine-tune", () =>
        {
            off = !ConfigLoader.Load(configPath).FineTune.Enabled;
            return ExitCodes.Success;
        });
        if (code != ExitCodes.Success) return code;
        if (off)
        {
            Printable.WriteLine("FineTune: off (fine_tune.enabled: false); `make fine-tune` runs it anyway");
            return ExitCodes.Success;
        }
    }
    return StageHost.Execute("fine-tune", configPath, FineTuneStage.Sections, (config, db, ct) =>
    {
        var outcome = FineTuneStage.Run(config, db, ct);
        Printable.WriteLine(outcome.Line);
        return outcome.Line;
    });
});
return command.Parse(args).Invoke();
