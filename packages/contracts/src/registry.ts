import type { z } from "zod";
import type { ActionContract, EventContract } from "./define.ts";
import * as gateway from "./gateway.contract.ts";
import * as m365 from "./m365.contract.ts";
import * as notifications from "./notifications.contract.ts";
import * as onboarding from "./onboarding.contract.ts";
import * as people from "./people.contract.ts";
import * as pulse from "./pulse.contract.ts";
import * as teams from "./teams.contract.ts";

/**
 * Every action and domain event of Hearth, by name. Declared by hand so that `call(ctx, name, params)`
 * is typed in both directions and the gateway and OpenAPI document are built from one list.
 */
export const actionContracts = {
  "gateway.whoAmI": gateway.whoAmI,
  "m365.readDirectoryChanges": m365.readDirectoryChanges,
  "m365.readMailboxSettings": m365.readMailboxSettings,
  "m365.sendMail": m365.sendMail,
  "m365.installAppForUser": m365.installAppForUser,
  "m365.sendActivityNotifications": m365.sendActivityNotifications,
  "m365.createEvent": m365.createEvent,
  "m365.readEventResponses": m365.readEventResponses,
  "m365.createTeam": m365.createTeam,
  "m365.createChannel": m365.createChannel,
  "m365.addTeamMembers": m365.addTeamMembers,
  "m365.removeTeamMember": m365.removeTeamMember,
  "m365.sendBotCard": teams.sendBotCard,
  "m365.saveConversationReference": teams.saveConversationReference,
  "notifications.notify": notifications.notify,
  "notifications.getStatus": notifications.getStatus,
  "notifications.checkSurveyLoad": notifications.checkSurveyLoad,
  "notifications.getMyPreferences": notifications.getMyPreferences,
  "notifications.updateMyPreferences": notifications.updateMyPreferences,
  "notifications.listMyNotifications": notifications.listMyNotifications,
  "notifications.getDeliveryStatus": notifications.getDeliveryStatus,
  "onboarding.saveTemplate": onboarding.saveTemplate,
  "onboarding.listTemplates": onboarding.listTemplates,
  "onboarding.startJourney": onboarding.startJourney,
  "onboarding.getJourney": onboarding.getJourney,
  "onboarding.getMyJourney": onboarding.getMyJourney,
  "onboarding.listMyTasks": onboarding.listMyTasks,
  "onboarding.completeTask": onboarding.completeTask,
  "onboarding.handleCardAction": onboarding.handleOnboardingCardAction,
  "onboarding.updateMyBuddyProfile": onboarding.updateMyBuddyProfile,
  "onboarding.runBuddyMatching": onboarding.runBuddyMatching,
  "onboarding.assignBuddy": onboarding.assignBuddy,
  "onboarding.respondToBuddyRequest": onboarding.respondToBuddyRequest,
  "onboarding.submitCheckin": onboarding.submitCheckin,
  "onboarding.needsAttention": onboarding.needsAttention,
  "onboarding.getReports": onboarding.getReports,
  "onboarding.runNudges": onboarding.runNudges,
  "onboarding.getSettings": onboarding.getSettings,
  "onboarding.updateSettings": onboarding.updateSettings,
  "people.listEmployees": people.listEmployees,
  "people.getEmployee": people.getEmployee,
  "people.getOrgChart": people.getOrgChart,
  "people.getMyProfile": people.getMyProfile,
  "people.exportMyData": people.exportMyData,
  "people.eraseEmployee": people.eraseEmployee,
  "people.startDirectorySync": people.startDirectorySync,
  "people.getDirectorySync": people.getDirectorySync,
  "people.runDirectorySync": people.runDirectorySync,
  "people.importDirectoryCsv": people.importDirectoryCsv,
  "people.importCsv": people.importDirectoryCsvInternal,
  "pulse.listProgrammes": pulse.listProgrammes,
  "pulse.getReceipt": pulse.getReceipt,
  "pulse.submitAnswers": pulse.submitAnswers,
  "pulse.handleCardAction": pulse.handleCardAction,
  "pulse.getResults": pulse.getResults,
  "pulse.getHeatmap": pulse.getHeatmap,
  "pulse.getTrend": pulse.getTrend,
  "pulse.getComments": pulse.getComments,
  "pulse.exportResults": pulse.exportResults,
  "pulse.addWaveAction": pulse.addWaveAction,
  "pulse.openWave": pulse.openWave,
  "pulse.closeWave": pulse.closeWave,
  "pulse.sendReminders": pulse.sendReminders,
  "pulse.createProgramme": pulse.createProgramme,
  "pulse.addQuestion": pulse.addQuestion,
} as const satisfies Record<string, ActionContract>;

export const eventContracts = {
  "employee.hired": people.employeeHired,
  "employee.updated": people.employeeUpdated,
  "employee.left": people.employeeLeft,
  "employee.erased": people.employeeErased,
  "notification.dead-lettered": notifications.notificationDeadLettered,
  "onboarding.journey.started": onboarding.journeyStarted,
  "onboarding.task.completed": onboarding.taskCompleted,
  "onboarding.journey.completed": onboarding.journeyCompleted,
  "onboarding.buddy.assigned": onboarding.buddyAssigned,
  "onboarding.buddy.accepted": onboarding.buddyAccepted,
  "onboarding.buddy.declined": onboarding.buddyDeclined,
  "onboarding.checkin.submitted": onboarding.checkinSubmitted,
  "pulse.wave.closed": pulse.waveClosed,
} as const satisfies Record<string, EventContract>;

export type ActionRegistry = typeof actionContracts;
export type ActionName = keyof ActionRegistry;
export type EventRegistry = typeof eventContracts;
export type EventName = keyof EventRegistry;
export type ActionParams<N extends ActionName> = z.input<ActionRegistry[N]["params"]>;
export type ActionResult<N extends ActionName> = z.output<ActionRegistry[N]["result"]>;
